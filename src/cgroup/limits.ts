// Limits are validated at the edge (JobSpec), but a bad number reaching a cgroup file would
// either be rejected by the kernel with a bare EINVAL or, worse, accepted with another meaning
// (-1 is "unlimited" in v1), so the drivers check them once more with a clear message.

import { CellblockError } from '../errors.ts';
import type { CgroupLimits } from './driver.ts';

/** CFS bandwidth period, in microseconds: the kernel's default, 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas below 1 ms. */
const CPU_MIN_QUOTA_US = 1_000;

export function assertLimits(limits: CgroupLimits): void {
  const bad: string[] = [];
  if (!Number.isSafeInteger(limits.memoryBytes) || limits.memoryBytes <= 0) bad.push(`memoryBytes=${limits.memoryBytes}`);
  if (!Number.isFinite(limits.cpus) || limits.cpus <= 0) bad.push(`cpus=${limits.cpus}`);
  if (!Number.isSafeInteger(limits.pids) || limits.pids <= 0) bad.push(`pids=${limits.pids}`);
  if (bad.length > 0) {
    throw new CellblockError('CGROUP_FAILED', `invalid cgroup limits (${bad.join(', ')}): each must be a positive number`);
  }
}

/** cpus (cores) as a CFS quota per CPU_PERIOD_US. */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(CPU_MIN_QUOTA_US, Math.round(cpus * CPU_PERIOD_US));
}
