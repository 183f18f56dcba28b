// The cgroup subsystem's public API: detect the driver, then create/list/open job cgroups.

export type { CgroupDriver, CgroupLimits, CgroupStats, CgroupWrite, JobCgroup } from './driver.ts';
export { DEFAULT_CGROUP_ROOT, type DetectCgroupOptions, detectCgroupDriver } from './detect.ts';
export { type CgroupFs, hostCgroupFs } from './fs.ts';
export type { CgroupTiming } from './timing.ts';
export { type CgroupFlavour, cgroupFlavour } from './flavour.ts';
