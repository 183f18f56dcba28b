// v1 memory controller: a hard limit with no swap on top, and the peak / OOM-kill facts
// a MEMORY_LIMIT verdict is decided from.

import { join } from 'node:path';
import { type FileWrite, flatKey, readFlatKeyed, readNumber } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

export function memoryLimitWrites(files: InterfaceFiles, dir: string, bytes: number): FileWrite[] {
  const writes: FileWrite[] = [{ path: join(dir, 'memory.limit_in_bytes'), value: String(bytes), optional: false }];
  // memsw is memory+swap, so memsw = limit means "no swap". The kernel requires
  // memsw >= limit_in_bytes at every step, hence the order. The file is absent when the
  // kernel has no swap accounting (swapaccount=0, or no swap support at all).
  const memsw = join(dir, 'memory.memsw.limit_in_bytes');
  if (files.has(memsw)) writes.push({ path: memsw, value: String(bytes), optional: false });
  // Without memsw this is the only way left to say "don't swap"; it is a preference the
  // kernel may refuse (EINVAL on some versions), never a limit, so a refusal is ignored.
  const swappiness = join(dir, 'memory.swappiness');
  if (files.has(swappiness)) writes.push({ path: swappiness, value: '0', optional: true });
  return writes;
}

export interface V1MemoryStats {
  peakBytes: number;
  peakSource: string;
  oomKills: number;
}

export function readMemoryStats(fs: CgroupFs, dir: string): V1MemoryStats {
  const oomControl = join(dir, 'memory.oom_control');
  const oom = readFlatKeyed(fs, oomControl);
  return {
    peakBytes: readNumber(fs, join(dir, 'memory.max_usage_in_bytes')),
    peakSource: 'memory.max_usage_in_bytes',
    // The oom_kill line appeared in 4.13. Without it there is no count, and a verdict must
    // never be guessed, so its absence is an error rather than a 0.
    oomKills: flatKey(oom, 'oom_kill', oomControl),
  };
}
