// v2 cpu controller: CFS bandwidth limit ("$MAX $PERIOD" in cpu.max), and cpu.stat, which
// the kernel keeps in every cgroup whether or not the controller is enabled.

import { join } from 'node:path';
import { flatKey, readFlatKeyed, writeText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { CPU_PERIOD_US, cpuQuotaUs } from '../limits.ts';

export function applyCpuLimit(fs: CgroupFs, dir: string, cpus: number): void {
  writeText(fs, join(dir, 'cpu.max'), `${cpuQuotaUs(cpus)} ${CPU_PERIOD_US}`);
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
