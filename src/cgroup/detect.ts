// Picks the cgroup driver for this host: pure v2 when the unified hierarchy at fsRoot has
// controllers, else v1 when the controllers we need are mounted as v1 hierarchies (this
// includes the systemd "hybrid" layout, whose cgroup2 at fsRoot/unified has none).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CellblockError, errorMessage } from '../errors.ts';
import type { CgroupDriver } from './driver.ts';
import { type CgroupFs, hostCgroupFs } from './fs.ts';
import { type CgroupMount, parseCgroupMounts } from './mountinfo.ts';
import { assertCgroupName } from './names.ts';
import { parseProcSelfCgroup } from './proc-self-cgroup.ts';
import { type CgroupTiming, resolveTiming } from './timing.ts';
import { V1Driver } from './v1/driver.ts';
import { V1_REQUIRED, discoverV1 } from './v1/hierarchies.ts';
import { V2Driver } from './v2/driver.ts';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
const V2_REQUIRED = ['memory', 'cpu', 'pids'];

export interface DetectCgroupOptions {
  /** Where the cgroup filesystems are mounted. Default /sys/fs/cgroup. */
  fsRoot?: string;
  /** Contents of /proc/self/cgroup. Default: read it. */
  procSelfCgroup?: string;
  /** Name of the parent cgroup created below the worker's own. Default "cellblock". */
  parentName?: string;
  /**
   * Contents of /proc/self/mountinfo, to find v1 mount points (and mounts that show only a
   * subtree). Default: read it when neither fsRoot nor fs is given; otherwise (a fake tree)
   * hierarchies are found by directory name: fsRoot/memory, fsRoot/cpu,cpuacct, ...
   */
  mountInfo?: string;
  /** The kernel interface; tests pass a fake. Default: the host. */
  fs?: CgroupFs;
  /** Kill and rmdir timeouts and the clock. */
  timing?: Partial<CgroupTiming>;
}

function readProcFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CellblockError('CGROUP_UNAVAILABLE', `cannot read ${path}: ${errorMessage(err)}; cellblock needs Linux with cgroups`, {
      cause: err,
    });
  }
}

function listFile(fs: CgroupFs, path: string): string[] {
  try {
    return fs.readFile(path).trim().split(/\s+/).filter((c) => c !== '');
  } catch {
    return [];
  }
}

/**
 * The driver for this host, with its `cellblock` parent(s) created (and on v2 the
 * controllers delegated). Throws CellblockError CGROUP_UNAVAILABLE saying what to fix.
 */
export function detectCgroupDriver(opts: DetectCgroupOptions = {}): CgroupDriver {
  const fsRoot = opts.fsRoot ?? DEFAULT_CGROUP_ROOT;
  const fs = opts.fs ?? hostCgroupFs;
  const parentName = opts.parentName ?? 'cellblock';
  assertCgroupName(parentName, 'cgroup parent name');
  const timing = resolveTiming(opts.timing);
  const procSelf = parseProcSelfCgroup(opts.procSelfCgroup ?? readProcFile('/proc/self/cgroup'));
  const problems: string[] = [];

  if (fs.exists(join(fsRoot, 'cgroup.controllers'))) {
    const unified = procSelf.find((e) => e.hierarchyId === 0);
    const rootControllers = listFile(fs, join(fsRoot, 'cgroup.controllers'));
    const absent = V2_REQUIRED.filter((c) => !rootControllers.includes(c));
    if (unified === undefined) {
      problems.push(`${fsRoot} is cgroup2 but /proc/self/cgroup has no "0::" line`);
    } else if (absent.length > 0) {
      problems.push(`cgroup2 at ${fsRoot} lacks the ${absent.join(', ')} controller(s) (bound to v1, or not delegated)`);
    } else {
      // Pure v2: a delegation problem is reported as such, there is no v1 to fall back on.
      return V2Driver.setup(fs, { fsRoot, ownPath: unified.path, parentName }, timing);
    }
  } else {
    problems.push(`${fsRoot} is not a cgroup2 mount (no cgroup.controllers)`);
  }

  let mounts: CgroupMount[] | undefined;
  if (opts.mountInfo !== undefined) mounts = parseCgroupMounts(opts.mountInfo);
  else if (fsRoot === DEFAULT_CGROUP_ROOT && opts.fs === undefined) mounts = parseCgroupMounts(readProcFile('/proc/self/mountinfo'));
  const v1 = discoverV1({ fs, fsRoot, procSelf, mounts, parentName });
  if (v1.missing.length === 0) return V1Driver.setup(fs, v1.hierarchies, timing);
  problems.push(`cgroup v1 controller(s) ${v1.missing.join(', ')} are not mounted (looked for ${fsRoot}/NAME)`);

  throw new CellblockError(
    'CGROUP_UNAVAILABLE',
    `no usable cgroup hierarchy: ${problems.join('; ')}. Fix: use cgroup v2 (systemd.unified_cgroup_hierarchy=1) ` +
      `with ${V2_REQUIRED.join(', ')} delegated to the worker's cgroup, or mount the v1 controllers ` +
      `${V1_REQUIRED.join(', ')} under ${fsRoot}/NAME (e.g. mount -t cgroup -o pids cgroup ${fsRoot}/pids)`,
  );
}
