// v1 cpuacct controller: cpu time used by the job, split user/system, in microseconds.

import { join } from 'node:path';
import { flatKey, readFlatKeyed, readNumber } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

const nsToUs = (ns: number): number => Math.floor(ns / 1000);

// cpuacct.stat counts in USER_HZ, which is 100 on every Linux ABI.
const USER_HZ_US = 10_000;

/** Total cpu time so far: one small file, read on the hot path while the job runs. */
export function readCpuUsageUs(fs: CgroupFs, dir: string): number {
  return nsToUs(readNumber(fs, join(dir, 'cpuacct.usage')));
}

export function readCpuStats(fs: CgroupFs, files: InterfaceFiles, dir: string): { userUs: number; systemUs: number } {
  const user = join(dir, 'cpuacct.usage_user');
  if (files.has(user)) {
    return { userUs: nsToUs(readNumber(fs, user)), systemUs: nsToUs(readNumber(fs, join(dir, 'cpuacct.usage_sys'))) };
  }
  // Kernels before 4.7 have only the coarse tick counts.
  const statPath = join(dir, 'cpuacct.stat');
  const stat = readFlatKeyed(fs, statPath);
  return {
    userUs: flatKey(stat, 'user', statPath) * USER_HZ_US,
    systemUs: flatKey(stat, 'system', statPath) * USER_HZ_US,
  };
}
