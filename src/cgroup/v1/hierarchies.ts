// Finds the v1 hierarchies cellblock uses and where its `cellblock` parent goes in each:
// <mount>/<the worker's own cgroup in that hierarchy>/<parentName>. Hierarchies come from
// /proc/self/cgroup (one line per hierarchy, so co-mounted "cpu,cpuacct" is one hierarchy,
// never two), mount points from mountinfo when we have it, else from directory names.

import { join, posix } from 'node:path';
import type { CgroupFs } from '../fs.ts';
import type { CgroupMount } from '../mountinfo.ts';
import type { ProcCgroupEntry } from '../proc-self-cgroup.ts';

export type V1Controller = 'memory' | 'cpu' | 'cpuacct' | 'pids' | 'freezer' | 'blkio';

/** Without these there is no limit or no kill-all; blkio only feeds io stats. */
export const V1_REQUIRED: readonly V1Controller[] = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'];
const V1_ALL: readonly V1Controller[] = [...V1_REQUIRED, 'blkio'];

export interface V1Hierarchy {
  /** The controllers of ours this hierarchy carries (two for a "cpu,cpuacct" mount). */
  controllers: V1Controller[];
  mountPoint: string;
  /** The worker's own cgroup: created by someone else, never written to. */
  ownDir: string;
  /** `cellblock` below ownDir: ours. */
  parentDir: string;
}

export interface V1Discovery {
  hierarchies: V1Hierarchy[];
  /** Required controllers with no usable hierarchy. */
  missing: V1Controller[];
}

function isV1Controller(name: string): name is V1Controller {
  return (V1_ALL as readonly string[]).includes(name);
}

function findMountPoint(
  fs: CgroupFs,
  fsRoot: string,
  entry: ProcCgroupEntry,
  mounts: CgroupMount[] | undefined,
): { mountPoint: string; root: string } | undefined {
  if (mounts !== undefined) {
    // A hierarchy's super options list exactly its controllers. One hierarchy can be mounted
    // more than once (bind mounts): prefer the mount under fsRoot.
    const matching = mounts.filter(
      (m) => m.fsType === 'cgroup' && entry.controllers.every((c) => m.superOptions.includes(c)),
    );
    const mount = matching.find((m) => m.mountPoint.startsWith(`${fsRoot}/`)) ?? matching[0];
    return mount && { mountPoint: mount.mountPoint, root: mount.root };
  }
  // No mountinfo (tests, or a caller-chosen fsRoot): the conventional names under fsRoot.
  const candidates = [entry.controllers.join(','), ...entry.controllers];
  for (const name of candidates) {
    const dir = join(fsRoot, name);
    if (fs.exists(join(dir, 'cgroup.procs'))) return { mountPoint: dir, root: '/' };
  }
  return undefined;
}

/** The worker's cgroup path as seen through a mount that may show only a subtree. */
function pathBelowMount(ownPath: string, mountRoot: string): string {
  if (mountRoot === '/' || mountRoot === '') return ownPath;
  if (ownPath === mountRoot) return '/';
  if (ownPath.startsWith(`${mountRoot}/`)) return ownPath.slice(mountRoot.length);
  // Different cgroup namespaces for /proc and the mount: the path is already relative.
  return ownPath;
}

export function discoverV1(opts: {
  fs: CgroupFs;
  fsRoot: string;
  procSelf: ProcCgroupEntry[];
  mounts: CgroupMount[] | undefined;
  parentName: string;
}): V1Discovery {
  const hierarchies: V1Hierarchy[] = [];
  for (const entry of opts.procSelf) {
    if (entry.hierarchyId === 0) continue;
    const controllers = entry.controllers.filter(isV1Controller);
    if (controllers.length === 0) continue;
    const mount = findMountPoint(opts.fs, opts.fsRoot, entry, opts.mounts);
    if (mount === undefined) continue;
    const ownDir = join(mount.mountPoint, posix.normalize(pathBelowMount(entry.path, mount.root)));
    hierarchies.push({ controllers, mountPoint: mount.mountPoint, ownDir, parentDir: join(ownDir, opts.parentName) });
  }
  const covered = new Set(hierarchies.flatMap((h) => h.controllers));
  return { hierarchies, missing: V1_REQUIRED.filter((c) => !covered.has(c)) };
}
