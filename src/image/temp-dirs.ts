// Scratch directories for imports in progress, named after the process that owns
// them (pid + start time, so a reused pid does not count as alive). Whatever a
// crashed import left is removed by the next import, while the temp dirs of
// imports still running, in this process or another, are left alone.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { currentOwner, isAlive } from '../sandbox/owner.ts';

// Module-wide: two ImageStore objects in one process may share a root.
const active = new Set<string>();

export function createTempDir(tmpRoot: string): string {
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const { pid, startTime } = currentOwner();
  const dir = path.join(tmpRoot, `${pid}.${startTime}.${randomBytes(6).toString('hex')}`);
  // 0700 until renamed into place: nobody may use a half-extracted tree.
  fs.mkdirSync(dir, { mode: 0o700 });
  active.add(dir);
  return dir;
}

/** Forgets `dir` and removes whatever is left of it. */
export function releaseTempDir(dir: string): void {
  active.delete(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

export function cleanStaleTempDirs(tmpRoot: string, log: Logger): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmpRoot);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const dir = path.join(tmpRoot, name);
    if (active.has(dir)) continue;
    const [pid, startTime] = name.split('.');
    const owner = { pid: Number(pid), startTime: startTime ?? '' };
    const mine = owner.pid === process.pid && owner.startTime === currentOwner().startTime;
    if (!mine && Number.isInteger(owner.pid) && owner.pid > 0 && isAlive(owner)) continue;
    log.info({ dir }, 'removing a crashed import\'s temp dir');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
