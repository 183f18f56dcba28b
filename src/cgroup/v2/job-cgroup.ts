// One job's cgroup on v2: the single directory <parent>/<name>.

import { join } from 'node:path';
import { CellblockError } from '../../errors.ts';
import type { CgroupLimits, CgroupStats, CgroupWrite, JobCgroup } from '../driver.ts';
import { applyWrites, type FileWrite, toCgroupWrites } from '../files.ts';
import { assertLimits } from '../limits.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';
import { cpuLimitWrites } from './cpu.ts';
import { memoryLimitWrites } from './memory.ts';
import { pidsLimitWrites } from './pids.ts';
import { type CgroupTiming, pollUntil } from '../timing.ts';
import { collectPids, removeIfEmpty, removeTree, runAll } from '../tree.ts';
import { readCpuStat, readCpuUsageUs } from './cpu.ts';
import { readIoStats } from './io.ts';
import { freezeKillThaw, hasCgroupKill, isPopulated, writeCgroupKill } from './kill.ts';
import { readMemoryStats } from './memory.ts';
import { readPidsPeak } from './pids.ts';

/** Between kill rounds: killed tasks need a moment to exit and leave the cgroup. */
const ROUND_GRACE_MS = 100;

export class V2JobCgroup implements JobCgroup {
  readonly dir: string;
  readonly dirs: readonly string[];

  constructor(
    private readonly fs: CgroupFs,
    /** The driver's: which optional files this kernel has, learned once. */
    private readonly files: InterfaceFiles,
    readonly name: string,
    parentDir: string,
    private readonly timing: CgroupTiming,
  ) {
    this.dir = join(parentDir, name);
    this.dirs = [this.dir];
  }

  limitWrites(limits: CgroupLimits): CgroupWrite[] {
    return toCgroupWrites(this.dirs, this.fileWrites(limits));
  }

  applyLimits(limits: CgroupLimits): void {
    applyWrites(this.fs, this.fileWrites(limits));
  }

  private fileWrites(limits: CgroupLimits): FileWrite[] {
    assertLimits(limits);
    return [
      ...memoryLimitWrites(this.files, this.dir, limits.memoryBytes),
      ...cpuLimitWrites(this.dir, limits.cpus),
      ...pidsLimitWrites(this.dir, limits.pids),
    ];
  }

  cpuUsageUs(): number {
    return readCpuUsageUs(this.fs, this.dir);
  }

  stats(): CgroupStats {
    const cpu = readCpuStat(this.fs, this.dir);
    const memory = readMemoryStats(this.fs, this.files, this.dir);
    const io = readIoStats(this.fs, this.files, this.dir);
    return {
      cpuUserUs: cpu.userUs,
      cpuSystemUs: cpu.systemUs,
      memoryPeakBytes: memory.peakBytes,
      memoryPeakSource: memory.peakSource,
      oomKills: memory.oomKills,
      pidsPeak: readPidsPeak(this.fs, this.files, this.dir),
      ioReadBytes: io.readBytes,
      ioWriteBytes: io.writeBytes,
    };
  }

  pids(): number[] {
    return [...collectPids(this.fs, this.dir)].sort((a, b) => a - b);
  }

  async killAll(): Promise<void> {
    const deadline = this.timing.now() + this.timing.killTimeoutMs;
    const populated = (): boolean => isPopulated(this.fs, this.dir);
    for (;;) {
      if (!populated()) return;
      if (hasCgroupKill(this.fs, this.dir)) writeCgroupKill(this.fs, this.dir);
      else await freezeKillThaw(this.fs, this.dir, this.timing);
      const roundEnd = Math.min(deadline, this.timing.now() + ROUND_GRACE_MS);
      if (await pollUntil(this.timing, roundEnd, () => !populated())) return;
      if (this.timing.now() >= deadline) {
        throw new CellblockError(
          'CGROUP_FAILED',
          `processes ${this.pids().join(', ')} still in job cgroup ${this.dir} ${this.timing.killTimeoutMs} ms after SIGKILL (stuck in uninterruptible sleep?)`,
        );
      }
    }
  }

  async remove(): Promise<void> {
    if (await removeIfEmpty(this.fs, [this.dir])) return;
    await runAll(`failed to remove job cgroup ${this.dir}`, [
      async () => {
        if (isPopulated(this.fs, this.dir)) await this.killAll();
      },
      () => removeTree(this.fs, this.dir, this.timing),
    ]);
  }
}
