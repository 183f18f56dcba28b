// Identifies a live process across pid reuse (pid + start time from /proc), so
// leftovers of a dead worker can be told from a live worker's sandboxes.
import fs from 'node:fs';

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

/** Owner recorded in `file`; undefined if the file is missing or unreadable. */
export function readOwner(file: string): Owner | undefined {
  try {
    return parseOwner(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
