// Which cgroup layout this host has, read without changing anything (for `cellblock doctor`):
// pure v2 (controllers on the unified hierarchy), v1 (controllers as v1 hierarchies; with a
// controller-less cgroup2 beside them that is systemd's "hybrid"), or none usable.

import { join } from 'node:path';
import { DEFAULT_CGROUP_ROOT } from './detect.ts';
import { type CgroupFs, hostCgroupFs } from './fs.ts';
import { parseCgroupMounts } from './mountinfo.ts';
import { parseProcSelfCgroup } from './proc-self-cgroup.ts';

export interface CgroupFlavour {
  kind: 'v2' | 'v1' | 'hybrid' | 'none';
  /** Controllers available to us: on v2 those of our own cgroup (what was delegated), on v1 the mounted ones. */
  controllers: string[];
  /** Our own cgroup: the v2 path, or the memory hierarchy's path on v1. */
  ownPath: string;
  /** On v2, our own cgroup is the real root (no cgroup.type): exempt from the no-internal-process rule. */
  isRoot: boolean;
}

const V1_CONTROLLERS = new Set(['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'hugetlb', 'memory', 'misc', 'net_cls', 'net_prio', 'perf_event', 'pids', 'rdma']);

function words(fs: CgroupFs, path: string): string[] {
  try {
    return fs.readFile(path).trim().split(/\s+/).filter((w) => w !== '');
  } catch {
    return [];
  }
}

export function cgroupFlavour(opts: { fsRoot?: string; fs?: CgroupFs; procSelfCgroup: string; mountInfo: string }): CgroupFlavour {
  const fsRoot = opts.fsRoot ?? DEFAULT_CGROUP_ROOT;
  const fs = opts.fs ?? hostCgroupFs;
  const self = parseProcSelfCgroup(opts.procSelfCgroup);
  const unified = self.find((e) => e.hierarchyId === 0);
  if (fs.exists(join(fsRoot, 'cgroup.controllers')) && words(fs, join(fsRoot, 'cgroup.controllers')).includes('memory')) {
    const ownPath = unified?.path ?? '/';
    const ownDir = join(fsRoot, ownPath);
    return { kind: 'v2', controllers: words(fs, join(ownDir, 'cgroup.controllers')), ownPath, isRoot: !fs.exists(join(ownDir, 'cgroup.type')) };
  }
  const mounts = parseCgroupMounts(opts.mountInfo);
  const v1 = mounts.filter((m) => m.fsType === 'cgroup').flatMap((m) => m.superOptions).filter((o) => V1_CONTROLLERS.has(o));
  const controllers = [...new Set(v1)].sort();
  const memory = self.find((e) => e.controllers.includes('memory'));
  if (controllers.length === 0) return { kind: 'none', controllers, ownPath: unified?.path ?? '/', isRoot: false };
  const hybrid = mounts.some((m) => m.fsType === 'cgroup2');
  return { kind: hybrid ? 'hybrid' : 'v1', controllers, ownPath: memory?.path ?? '/', isRoot: false };
}
