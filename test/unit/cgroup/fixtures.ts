// Fake machines for the cgroup unit tests, modelled on real layouts.

import { join } from 'node:path';
import { FakeKernel, type V1Features, type V2Features } from './fake-kernel.ts';

export const OWN_MEMORY_PATH = '/process_api/df60b09127e8d3a87a27a2a0709497d7';

export interface FakeMachine {
  kernel: FakeKernel;
  fsRoot: string;
  procSelfCgroup: string;
}

/**
 * Like the dev machine: every v1 controller on its own mount (cpu and cpuacct separate
 * unless coMountCpu), the worker in a non-root memory cgroup and "/" elsewhere, and a
 * cgroup2 at fsRoot/unified with no controllers.
 */
export function v1Machine(opts: { coMountCpu?: boolean; blkio?: boolean; features?: V1Features; omit?: string[] } = {}): FakeMachine {
  const kernel = new FakeKernel();
  const fsRoot = join(kernel.root, 'sys/fs/cgroup');
  const omit = new Set(opts.omit ?? []);
  const hierarchies: [number, string[]][] = [
    [9, ['name=systemd']],
    [8, ['pids']],
    ...(opts.blkio === false ? [] : ([[7, ['blkio']]] as [number, string[]][])),
    [6, ['freezer']],
    [5, ['devices']],
    [4, ['memory']],
    [3, ['cpuset']],
    ...(opts.coMountCpu
      ? ([[2, ['cpu', 'cpuacct']]] as [number, string[]][])
      : ([
          [2, ['cpuacct']],
          [1, ['cpu']],
        ] as [number, string[]][])),
  ];
  const lines: string[] = [];
  for (const [id, controllers] of hierarchies) {
    if (controllers.some((c) => omit.has(c))) continue;
    const mountName = controllers[0] === 'name=systemd' ? 'systemd' : controllers.join(',');
    kernel.mountV1(join(fsRoot, mountName), controllers, opts.features);
    const ownPath = controllers[0] === 'memory' ? OWN_MEMORY_PATH : '/';
    if (ownPath !== '/') kernel.mkdirp(join(fsRoot, mountName, ownPath));
    lines.push(`${id}:${controllers.join(',')}:${ownPath}`);
  }
  kernel.mountV2(join(fsRoot, 'unified'), ['hugetlb']);
  lines.push('0::/');
  return { kernel, fsRoot, procSelfCgroup: `${lines.join('\n')}\n` };
}

/**
 * A pure cgroup v2 host; the worker sits in `ownPath` (created, with `procs` in it) whose
 * parent delegated `delegated` to it.
 */
export function v2Machine(
  opts: { ownPath?: string; procs?: number[]; delegated?: string[]; features?: V2Features } = {},
): FakeMachine & { ownDir: string } {
  const kernel = new FakeKernel();
  const fsRoot = join(kernel.root, 'sys/fs/cgroup');
  const ownPath = opts.ownPath ?? '/system.slice/cellblock.service';
  const delegated = opts.delegated ?? ['cpuset', 'cpu', 'io', 'memory', 'pids'];
  kernel.mountV2(fsRoot, ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'], opts.features);
  // Each ancestor delegates to the next level (what systemd does for Delegate=yes).
  const segments = ownPath.split('/').filter((s) => s !== '');
  let dir = fsRoot;
  for (const segment of segments) {
    kernel.writeFile(join(dir, 'cgroup.subtree_control'), delegated.map((c) => `+${c}`).join(' '));
    dir = join(dir, segment);
    kernel.mkdir(dir);
  }
  for (const pid of opts.procs ?? []) kernel.addProcess(dir, pid);
  kernel.writes.length = 0; // only the driver's writes are of interest
  return { kernel, fsRoot, ownDir: dir, procSelfCgroup: `0::${ownPath}\n` };
}
