// cgroup v1 driver: one `cellblock` parent per hierarchy (memory, cpu, cpuacct, pids,
// freezer, blkio), each job a same-named directory in every one of them.

import { CellblockError, errnoCode, errorMessage } from '../../errors.ts';
import type { CgroupDriver, CgroupLimits, JobCgroup } from '../driver.ts';
import type { CgroupFs } from '../fs.ts';
import { InterfaceFiles } from '../interface-files.ts';
import { assertLimits } from '../limits.ts';
import { assertCgroupName } from '../names.ts';
import { ensureCgroupDir } from '../parent-dir.ts';
import type { CgroupTiming } from '../timing.ts';
import type { V1Hierarchy } from './hierarchies.ts';
import { V1JobCgroup } from './job-cgroup.ts';

export class V1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly parents: readonly string[];
  private readonly files: InterfaceFiles;

  private constructor(
    private readonly fs: CgroupFs,
    readonly hierarchies: readonly V1Hierarchy[],
    private readonly timing: CgroupTiming,
  ) {
    this.parents = hierarchies.map((h) => h.parentDir);
    this.files = new InterfaceFiles(fs);
  }

  /** Creates the `cellblock` parents (only those: the worker's own cgroups are not ours). */
  static setup(fs: CgroupFs, hierarchies: readonly V1Hierarchy[], timing: CgroupTiming): V1Driver {
    for (const h of hierarchies) ensureCgroupDir(fs, h.parentDir, h.ownDir);
    return new V1Driver(fs, hierarchies, timing);
  }

  create(name: string, limits?: CgroupLimits): JobCgroup {
    assertCgroupName(name);
    if (limits) assertLimits(limits);
    const job = new V1JobCgroup(this.fs, this.files, name, this.hierarchies, this.timing);
    const created: string[] = [];
    try {
      for (const dir of job.dirs) {
        try {
          this.fs.mkdir(dir);
        } catch (err) {
          const hint = errnoCode(err) === 'EEXIST' ? ' (left by a crashed worker? reconcile removes it)' : '';
          throw new CellblockError('CGROUP_FAILED', `failed to create ${dir}: ${errorMessage(err)}${hint}`, { cause: err });
        }
        created.push(dir);
      }
      if (limits) job.applyLimits(limits);
    } catch (err) {
      // Undo only what we made; nothing has joined these directories yet.
      for (const dir of created.reverse()) {
        try {
          this.fs.rmdir(dir);
        } catch {
          // the original error is the one worth reporting; reconcile sweeps leftovers
        }
      }
      throw err;
    }
    return job;
  }

  list(): string[] {
    // Union: a crash during create or remove can leave a job in only some hierarchies.
    const names = new Set<string>();
    for (const h of this.hierarchies) {
      let dirs: string[];
      try {
        dirs = this.fs.listDirs(h.parentDir);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue;
        throw new CellblockError('CGROUP_FAILED', `failed to list ${h.parentDir}: ${errorMessage(err)}`, { cause: err });
      }
      for (const d of dirs) names.add(d);
    }
    return [...names].sort();
  }

  open(name: string): JobCgroup {
    assertCgroupName(name);
    return new V1JobCgroup(this.fs, this.files, name, this.hierarchies, this.timing);
  }
}
