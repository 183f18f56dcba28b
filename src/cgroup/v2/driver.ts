// cgroup v2 driver: jobs are <own cgroup>/cellblock/<name> on the unified hierarchy,
// after the delegation in delegation.ts.

import { CellblockError, errnoCode, errorMessage } from '../../errors.ts';
import type { CgroupDriver, CgroupLimits, JobCgroup } from '../driver.ts';
import type { CgroupFs } from '../fs.ts';
import { InterfaceFiles } from '../interface-files.ts';
import { assertLimits } from '../limits.ts';
import { assertCgroupName } from '../names.ts';
import type { CgroupTiming } from '../timing.ts';
import { type V2Layout, prepareV2 } from './delegation.ts';
import { V2JobCgroup } from './job-cgroup.ts';

export class V2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly parents: readonly string[];
  private readonly files: InterfaceFiles;

  private constructor(
    private readonly fs: CgroupFs,
    readonly layout: V2Layout,
    private readonly timing: CgroupTiming,
  ) {
    this.parents = [layout.parentDir];
    this.files = new InterfaceFiles(fs);
  }

  static setup(
    fs: CgroupFs,
    where: { fsRoot: string; ownPath: string; parentName: string },
    timing: CgroupTiming,
  ): V2Driver {
    return new V2Driver(fs, prepareV2({ fs, ...where }), timing);
  }

  create(name: string, limits?: CgroupLimits): JobCgroup {
    assertCgroupName(name);
    if (limits) assertLimits(limits);
    const job = new V2JobCgroup(this.fs, this.files, name, this.layout.parentDir, this.timing);
    try {
      this.fs.mkdir(job.dir);
    } catch (err) {
      const hint = errnoCode(err) === 'EEXIST' ? ' (left by a crashed worker? reconcile removes it)' : '';
      throw new CellblockError('CGROUP_FAILED', `failed to create ${job.dir}: ${errorMessage(err)}${hint}`, { cause: err });
    }
    try {
      if (limits) job.applyLimits(limits);
    } catch (err) {
      try {
        this.fs.rmdir(job.dir); // empty: nothing has joined it yet
      } catch {
        // the limit error is the one worth reporting; reconcile sweeps leftovers
      }
      throw err;
    }
    return job;
  }

  list(): string[] {
    try {
      return this.fs.listDirs(this.layout.parentDir).sort();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw new CellblockError('CGROUP_FAILED', `failed to list ${this.layout.parentDir}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  open(name: string): JobCgroup {
    assertCgroupName(name);
    return new V2JobCgroup(this.fs, this.files, name, this.layout.parentDir, this.timing);
  }
}
