// Which optional interface files this kernel gives a job cgroup (memory.memsw.limit_in_bytes,
// pids.peak, memory.peak, io.stat...). The answer is the same for every job cgroup below one
// parent (kernel version and config, the controllers enabled there), so each name is looked
// up once per driver instead of costing a stat(2) per job on the worker's event loop.

import { basename, dirname } from 'node:path';
import type { CgroupFs } from './fs.ts';

export class InterfaceFiles {
  private readonly known = new Map<string, boolean>();

  constructor(private readonly fs: CgroupFs) {}

  /** Whether `path`, an interface file of a job cgroup, exists on this kernel. */
  has(path: string): boolean {
    const name = basename(path);
    const known = this.known.get(name);
    if (known !== undefined) return known;
    const exists = this.fs.exists(path);
    // A missing file proves nothing when its cgroup is missing too (removed, never made).
    if (exists || this.fs.exists(dirname(path))) this.known.set(name, exists);
    return exists;
  }
}
