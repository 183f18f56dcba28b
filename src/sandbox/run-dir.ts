// The volatile part of the state dir, <stateDir>/run/: job directories (jobs/) and uid
// range claims (uids/). Nothing in it outlives a reboot, as no sandbox does, so it is
// a tmpfs, mounted by the first runner on the host and left mounted (as /run is):
// every job makes and removes about eight directories and files there, and on a
// disk file system each costs an inode allocation (on ext4 without a journal, one
// that scans past every inode freed in the last minute). Mounted under a lock, so
// two runners starting at once never stack two tmpfs (the second would hide the
// first one's live job directories); never over a directory holding state.
// releaseRunDir is the way back, for a host (or a test suite) done with cellblock.
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.ts';
import { acquireLock } from '../image/lock.ts';
import type { Logger } from '../log.ts';
import { mountTmpfs, unmount } from '../sys/libc.ts';

const TMPFS_MAGIC = 0x01021994;
const RUN = 'run';

export const runDirIn = (stateDir: string): string => path.join(stateDir, RUN);
export const jobsDirIn = (stateDir: string): string => path.join(runDirIn(stateDir), 'jobs');
export const uidsDirIn = (stateDir: string): string => path.join(runDirIn(stateDir), 'uids');

export const isTmpfs = (dir: string): boolean => fs.statfsSync(dir).type === TMPFS_MAGIC;

/** True when the directory holds nothing but empty directories (the layout, with no state in it). */
function holdsNoState(dir: string): boolean {
  return fs.readdirSync(dir, { withFileTypes: true }).every((e) => e.isDirectory() && fs.readdirSync(path.join(dir, e.name)).length === 0);
}

/**
 * Makes <stateDir>/run a tmpfs unless it is one already (or sits on one). Where it
 * cannot (no CAP_SYS_ADMIN, or state left on the disk by an earlier worker that
 * reconcile has not removed yet), the directory stays on the disk: slower, with a
 * warning, and otherwise the same. Returns what it is on.
 */
export async function ensureRunDir(stateDir: string, log: Logger): Promise<'tmpfs' | 'disk'> {
  const dir = runDirIn(stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  if (isTmpfs(dir)) return 'tmpfs';
  const lock = await acquireLock(stateDir, RUN);
  try {
    if (isTmpfs(dir)) return 'tmpfs'; // another runner mounted it while we waited
    if (!holdsNoState(dir)) {
      log.warn({ dir }, 'per-job state stays on the disk: the directory holds state from before (reconcile removes it; the next start mounts a tmpfs)');
      return 'disk';
    }
    mountTmpfs(dir, 'mode=0711');
    log.info({ dir }, 'mounted a tmpfs for per-job state');
    return 'tmpfs';
  } catch (err) {
    log.warn({ dir, err: errorMessage(err) }, 'per-job state stays on the disk: could not mount a tmpfs there');
    return 'disk';
  } finally {
    lock.release();
  }
}

/**
 * Unmounts the tmpfs at <stateDir>/run when it holds no state (no job directory, no
 * uid claim: no runner has a sandbox here), under the lock ensureRunDir takes. For a
 * host, or a test suite, done with this state dir; a runner still using it would find
 * its state gone, so this is not for a live worker's state dir. Says what it did.
 */
export async function releaseRunDir(stateDir: string): Promise<'unmounted' | 'not-mounted' | 'holds-state'> {
  const dir = runDirIn(stateDir);
  if (!fs.existsSync(dir)) return 'not-mounted';
  const lock = await acquireLock(stateDir, RUN);
  try {
    if (!isMountPoint(dir) || !isTmpfs(dir)) return 'not-mounted';
    if (!holdsNoState(dir)) return 'holds-state';
    unmount(dir);
    return 'unmounted';
  } finally {
    lock.release();
  }
}

const isMountPoint = (dir: string): boolean => fs.statSync(dir).dev !== fs.statSync(path.dirname(dir)).dev;
