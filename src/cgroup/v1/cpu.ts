// v1 cpu controller: CFS bandwidth, i.e. at most `cpus` cores' worth of time per period.

import { join } from 'node:path';
import type { FileWrite } from '../files.ts';
import { CPU_PERIOD_US, cpuQuotaUs } from '../limits.ts';

export function cpuLimitWrites(dir: string, cpus: number): FileWrite[] {
  // Period first: the quota is interpreted against the period in force when it is written.
  return [
    { path: join(dir, 'cpu.cfs_period_us'), value: String(CPU_PERIOD_US), optional: false },
    { path: join(dir, 'cpu.cfs_quota_us'), value: String(cpuQuotaUs(cpus)), optional: false },
  ];
}
