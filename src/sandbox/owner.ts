// Identifies a live process across pid reuse (pid + start time from /proc), so
// leftovers of a dead worker can be told from a live worker's sandboxes. Per-job
// records (owner, image) are symlinks whose target is the text: one symlink() makes
// one, atomically, where a file takes open, write and close.
import fs from 'node:fs';
import { errnoCode } from '../errors.ts';

export interface Owner {
  pid: number;
  startTime: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may contain spaces and parentheses.
    const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return afterComm[19];
  } catch {
    return undefined;
  }
}

export function currentOwner(): Owner {
  return { pid: process.pid, startTime: startTimeOf(process.pid) ?? '0' };
}

export function formatOwner(o: Owner): string {
  return `${o.pid} ${o.startTime}\n`;
}

export function parseOwner(text: string): Owner | undefined {
  const [pid, startTime] = text.trim().split(' ');
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && startTime ? { pid: n, startTime } : undefined;
}

export function isAlive(o: Owner): boolean {
  return startTimeOf(o.pid) === o.startTime;
}

/** The text recorded at `at`: a symlink's target, or a file's contents; undefined if missing or unreadable. */
export function readRecord(at: string): string | undefined {
  try {
    return fs.readlinkSync(at);
  } catch (err) {
    if (errnoCode(err) !== 'EINVAL') return undefined; // EINVAL: not a symlink, so a file
  }
  try {
    return fs.readFileSync(at, 'utf8');
  } catch {
    return undefined;
  }
}

/** Records `o` as the owner at `at`, in one call; fails with EEXIST when `at` exists. */
export async function writeOwner(at: string, o: Owner): Promise<void> {
  await fs.promises.symlink(formatOwner(o).trim(), at);
}

/** Owner recorded at `at` (a record or a file); undefined if missing or unreadable. */
export function readOwner(at: string): Owner | undefined {
  const text = readRecord(at);
  return text === undefined ? undefined : parseOwner(text);
}
