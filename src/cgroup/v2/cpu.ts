// v2 cpu controller: CFS bandwidth limit ("$MAX $PERIOD" in cpu.max), and cpu.stat, which
// the kernel keeps in every cgroup whether or not the controller is enabled.

import { join } from 'node:path';
import { type FileWrite, flatKey, readFlatKeyed } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { CPU_PERIOD_US, cpuQuotaUs } from '../limits.ts';

export function cpuLimitWrites(dir: string, cpus: number): FileWrite[] {
  return [{ path: join(dir, 'cpu.max'), value: `${cpuQuotaUs(cpus)} ${CPU_PERIOD_US}`, optional: false }];
}

export function readCpuStat(fs: CgroupFs, dir: string): { usageUs: number; userUs: number; systemUs: number } {
  const path = join(dir, 'cpu.stat');
  const stat = readFlatKeyed(fs, path);
  return {
    usageUs: flatKey(stat, 'usage_usec', path),
    userUs: flatKey(stat, 'user_usec', path),
    systemUs: flatKey(stat, 'system_usec', path),
  };
}

/** Total cpu time so far, on the hot path while the job runs. */
export function readCpuUsageUs(fs: CgroupFs, dir: string): number {
  const path = join(dir, 'cpu.stat');
  return flatKey(readFlatKeyed(fs, path), 'usage_usec', path);
}
