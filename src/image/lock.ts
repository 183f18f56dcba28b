// A lock per image digest, across processes: the lock file is made complete
// (owner inside) and then hard-linked into place, which either succeeds or fails
// with EEXIST, atomically. A holder that died (owner pid + start time no longer
// alive) loses it. The lock only saves work (one extraction instead of two); the
// store stays correct without it, since a blob appears by one atomic rename.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CellblockError, errnoCode } from '../errors.ts';
import { currentOwner, formatOwner, isAlive, parseOwner } from '../sandbox/owner.ts';

const POLL_MS = 100;

export interface HeldLock {
  release(): void;
}

export interface LockOptions {
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?(holderPid: number): void;
  /** Give up after this long (default: wait as long as the holder lives). */
  timeoutMs?: number;
}

/** Takes `<dir>/<name>.lock`, waiting while a live process holds it. */
export async function acquireLock(dir: string, name: string, opts: LockOptions = {}): Promise<HeldLock> {
  const started = Date.now();
  let told = false;
  for (;;) {
    const held = tryLock(dir, name);
    if (typeof held !== 'number') return held;
    if (!told) {
      opts.onWait?.(held);
      told = true;
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new CellblockError('IMAGE_INVALID', `timed out waiting for process ${held} to finish with image ${name}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The lock, or the pid of the live process that holds it. */
export function tryLock(dir: string, name: string): HeldLock | number {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${name}.lock`);
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const me = currentOwner();
  fs.writeFileSync(tmp, formatOwner(me));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(tmp, file);
        const ino = fs.statSync(file).ino;
        return {
          release: () => {
            // Only our own lock: never one a breaker handed to someone else meanwhile.
            const st = fs.statSync(file, { throwIfNoEntry: false });
            if (st?.ino === ino) fs.rmSync(file, { force: true });
          },
        };
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const holder = readHolder(file);
      if (holder === undefined) continue; // released meanwhile
      if (isAlive(holder.owner)) return holder.owner.pid;
      breakStale(file, holder.ino);
    }
    return readHolder(file)?.owner.pid ?? 0;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readHolder(file: string): { owner: { pid: number; startTime: string }; ino: number } | undefined {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const ino = fs.fstatSync(fd).ino;
      const owner = parseOwner(fs.readFileSync(fd, 'utf8'));
      return owner === undefined ? undefined : { owner, ino };
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes a dead holder's lock, unless it was replaced by a live one since we looked. */
function breakStale(file: string, ino: number): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (fs.statSync(aside).ino !== ino) {
    // Someone else's fresh lock: put it back (if that fails, they simply lose the lock,
    // and at worst an image is extracted twice).
    try {
      fs.linkSync(aside, file);
    } catch {
      // EEXIST: a third process already holds it.
    }
  }
  fs.rmSync(aside, { force: true });
}
