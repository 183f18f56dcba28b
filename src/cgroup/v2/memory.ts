// v2 memory controller: a hard limit with no swap, and the peak / OOM-kill facts a
// MEMORY_LIMIT verdict is decided from.

import { join } from 'node:path';
import { type FileWrite, flatKey, readFlatKeyed, readNumber } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

export function memoryLimitWrites(files: InterfaceFiles, dir: string, bytes: number): FileWrite[] {
  const writes: FileWrite[] = [{ path: join(dir, 'memory.max'), value: String(bytes), optional: false }];
  // Absent when the kernel has no swap accounting; then there is no swap to forbid either
  // way (swap.max is independent of memory.max on v2, unlike v1's memsw).
  const swapMax = join(dir, 'memory.swap.max');
  if (files.has(swapMax)) writes.push({ path: swapMax, value: '0', optional: false });
  return writes;
}

export interface V2MemoryStats {
  peakBytes: number;
  peakSource: string;
  oomKills: number;
}

export function readMemoryStats(fs: CgroupFs, files: InterfaceFiles, dir: string): V2MemoryStats {
  // memory.peak arrived in 5.19. Without it memory.current is all there is: read after the
  // job ended it is the usage left behind, not a peak, and peakSource says so.
  const peak = join(dir, 'memory.peak');
  const source = files.has(peak) ? 'memory.peak' : 'memory.current';
  // memory.events, not memory.events.local: the hierarchical count includes kills in child
  // cgroups a job may create inside its cgroup namespace, and every process below the job
  // cgroup is the job's. (A host mounted with memory_localevents makes this file local;
  // then children's kills are lost, which we accept rather than walk the tree.)
  const eventsPath = join(dir, 'memory.events');
  return {
    peakBytes: readNumber(fs, join(dir, source)),
    peakSource: source,
    oomKills: flatKey(readFlatKeyed(fs, eventsPath), 'oom_kill', eventsPath),
  };
}
