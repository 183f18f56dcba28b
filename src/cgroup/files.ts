// Reading and writing cgroup interface files with errors that say which file and what value,
// and parsers for the kernel's file formats (flat keyed, nested keyed, one value).

import { basename, dirname } from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import type { CgroupWrite } from './driver.ts';
import type { CgroupFs } from './fs.ts';

export function readText(fs: CgroupFs, path: string): string {
  try {
    return fs.readFile(path);
  } catch (err) {
    throw new CellblockError('CGROUP_FAILED', `failed to read ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export function writeText(fs: CgroupFs, path: string, data: string): void {
  try {
    fs.writeFile(path, data);
  } catch (err) {
    throw new CellblockError('CGROUP_FAILED', `failed to write "${data}" to ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** One value for one interface file: how a limit is set. */
export interface FileWrite {
  path: string;
  value: string;
  /** A preference the kernel may refuse (then ignored), not a limit. */
  optional: boolean;
}

/** FileWrites as writes into one of `dirs` (for the launcher, which writes only there). */
export function toCgroupWrites(dirs: readonly string[], writes: readonly FileWrite[]): CgroupWrite[] {
  return writes.map((w) => {
    const dir = dirs.indexOf(dirname(w.path));
    if (dir < 0) throw new CellblockError('CGROUP_FAILED', `${w.path} is not in one of the job's cgroups`);
    return { dir, file: basename(w.path), value: w.value, optional: w.optional };
  });
}

/** Writes in order; the first refused one that is not optional throws. */
export function applyWrites(fs: CgroupFs, writes: readonly FileWrite[]): void {
  for (const w of writes) {
    if (!w.optional) writeText(fs, w.path, w.value);
    else {
      try {
        fs.writeFile(w.path, w.value);
      } catch {
        // optional: see FileWrite
      }
    }
  }
}

/** A file holding one number. Counters can exceed 2^53; a double is precise enough for stats. */
export function readNumber(fs: CgroupFs, path: string): number {
  const text = readText(fs, path).trim();
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) {
    throw new CellblockError('CGROUP_FAILED', `unexpected content in ${path}: "${text.slice(0, 80)}"`);
  }
  return value;
}

/** "key value" per line (memory.events, cpu.stat, memory.oom_control, cgroup.events). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value, ...rest] = line.trim().split(/\s+/);
    if (key === undefined || key === '' || value === undefined || rest.length > 0) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

export function readFlatKeyed(fs: CgroupFs, path: string): Map<string, number> {
  return parseFlatKeyed(readText(fs, path));
}

/** One key of a flat keyed file; a missing key is an error that names the file. */
export function flatKey(values: Map<string, number>, key: string, path: string): number {
  const value = values.get(key);
  if (value === undefined) throw new CellblockError('CGROUP_FAILED', `no "${key}" line in ${path}`);
  return value;
}

/** "KEY k1=v1 k2=v2" per line (io.stat): sub-keys in any order, unknown ones kept. */
export function parseNestedKeyed(text: string): { key: string; fields: Map<string, string> }[] {
  const out: { key: string; fields: Map<string, string> }[] = [];
  for (const line of text.split('\n')) {
    const [key, ...pairs] = line.trim().split(/\s+/);
    if (key === undefined || key === '') continue;
    const fields = new Map<string, string>();
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    out.push({ key, fields });
  }
  return out;
}

/** pids in a cgroup.procs file; [] when the cgroup is gone (nothing left to list). */
export function readProcs(fs: CgroupFs, procsFile: string): number[] {
  let text: string;
  try {
    text = fs.readFile(procsFile);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw new CellblockError('CGROUP_FAILED', `failed to read ${procsFile}: ${errorMessage(err)}`, { cause: err });
  }
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    const pid = Number(line.trim());
    if (line.trim() !== '' && Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}
