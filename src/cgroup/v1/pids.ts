// v1 pids controller: a cap on tasks (threads included), the fork-bomb defence, and the
// peak where the kernel keeps one: pids.peak came with 6.1 and the pids controller serves
// the same files on v1 and v2, so v1 hosts on new kernels have it too.

import { join } from 'node:path';
import { type FileWrite, readNumber } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

export function pidsLimitWrites(dir: string, max: number): FileWrite[] {
  return [{ path: join(dir, 'pids.max'), value: String(max), optional: false }];
}

export function readPidsPeak(fs: CgroupFs, files: InterfaceFiles, dir: string): number | null {
  const path = join(dir, 'pids.peak');
  return files.has(path) ? readNumber(fs, path) : null;
}
