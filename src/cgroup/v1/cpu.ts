// v1 cpu controller: CFS bandwidth, i.e. at most `cpus` cores' worth of time per period.

import { join } from 'node:path';
import { writeText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { CPU_PERIOD_US, cpuQuotaUs } from '../limits.ts';

export function applyCpuLimit(fs: CgroupFs, dir: string, cpus: number): void {
  // Period first: the quota is interpreted against the period in force when it is written.
  writeText(fs, join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
  writeText(fs, join(dir, 'cpu.cfs_quota_us'), String(cpuQuotaUs(cpus)));
}
