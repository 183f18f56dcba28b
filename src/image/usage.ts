// Which images are in use and when each was last used. In use: a live job
// directory (<state>/jobs/<id>/, owner process alive) whose `image` file names
// the digest; the runner writes it before the sandbox starts. Last used: the
// mtime of <blob>/last-used, touched when a job resolves the image, at most once
// a minute per digest and process, so a busy worker does not write per job.
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors.ts';
import { IMAGE_FILE, OWNER_FILE } from '../sandbox/job-dir.ts';
import { isAlive, readOwner, readRecord } from '../sandbox/owner.ts';
import { digestHex } from './ref.ts';

const TOUCH_EVERY_MS = 60_000;
export const LAST_USED_FILE = 'last-used';

/** Hex digests of the images live jobs under `jobsDir` use. */
export function digestsInUse(jobsDir: string): Set<string> {
  const used = new Set<string>();
  let ids: string[];
  try {
    ids = fs.readdirSync(jobsDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return used;
    throw err;
  }
  for (const id of ids) {
    const text = readRecord(path.join(jobsDir, id, IMAGE_FILE));
    if (text === undefined) continue; // no image recorded (yet, or any more)
    const hex = digestHex(text.trim());
    const owner = readOwner(path.join(jobsDir, id, OWNER_FILE));
    if (hex !== undefined && owner !== undefined && isAlive(owner)) used.add(hex);
  }
  return used;
}

export class LastUsed {
  private readonly touched = new Map<string, number>();

  /** Marks `blobDir` used now, unless this process did so less than a minute ago. */
  touch(hex: string, blobDir: string, now = Date.now()): void {
    const last = this.touched.get(hex);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    this.touched.set(hex, now);
    const file = path.join(blobDir, LAST_USED_FILE);
    const t = new Date(now);
    try {
      fs.utimesSync(file, t, t);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') return; // best effort: LRU order is a hint
      try {
        fs.writeFileSync(file, '', { mode: 0o644 });
      } catch {
        // the blob went away meanwhile
      }
    }
  }
}

/** When the blob was last used (ms since the epoch), or undefined if never recorded. */
export function lastUsedMs(blobDir: string): number | undefined {
  return fs.statSync(path.join(blobDir, LAST_USED_FILE), { throwIfNoEntry: false })?.mtimeMs;
}
