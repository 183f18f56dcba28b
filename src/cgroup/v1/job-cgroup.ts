// One job's cgroup on v1: a directory of the same name in each hierarchy's `cellblock` parent.

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
import { collectPids, killPids, removeIfEmpty, removeTree, runAll } from '../tree.ts';
import { readIoStats } from './blkio.ts';
import { readCpuStats, readCpuUsageUs } from './cpuacct.ts';
import { freeze, thaw } from './freezer.ts';
import type { V1Controller, V1Hierarchy } from './hierarchies.ts';
import { readMemoryStats } from './memory.ts';
import { readPidsPeak } from './pids.ts';

/** Between kill rounds: killed tasks need a moment to exit and leave the cgroup. */
const ROUND_GRACE_MS = 100;

export class V1JobCgroup implements JobCgroup {
  /** One directory per hierarchy, in the order of the driver's hierarchies. */
  readonly dirs: readonly string[];
  private readonly byController = new Map<V1Controller, string>();

  constructor(
    private readonly fs: CgroupFs,
    /** The driver's: which optional files this kernel has, learned once. */
    private readonly files: InterfaceFiles,
    readonly name: string,
    hierarchies: readonly V1Hierarchy[],
    private readonly timing: CgroupTiming,
  ) {
    this.dirs = hierarchies.map((h) => join(h.parentDir, name));
    hierarchies.forEach((h, i) => {
      for (const c of h.controllers) this.byController.set(c, this.dirs[i] as string);
    });
  }

  /** Directory of a required controller (the driver refuses to start without them). */
  dirOf(controller: Exclude<V1Controller, 'blkio'>): string {
    const dir = this.byController.get(controller);
    if (dir === undefined) throw new CellblockError('CGROUP_FAILED', `no ${controller} hierarchy for job cgroup ${this.name}`);
    return dir;
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
      ...memoryLimitWrites(this.files, this.dirOf('memory'), limits.memoryBytes),
      ...cpuLimitWrites(this.dirOf('cpu'), limits.cpus),
      ...pidsLimitWrites(this.dirOf('pids'), limits.pids),
    ];
  }

  cpuUsageUs(): number {
    return readCpuUsageUs(this.fs, this.dirOf('cpuacct'));
  }

  stats(): CgroupStats {
    const cpu = readCpuStats(this.fs, this.files, this.dirOf('cpuacct'));
    const memory = readMemoryStats(this.fs, this.dirOf('memory'));
    const io = readIoStats(this.fs, this.files, this.byController.get('blkio'));
    return {
      cpuUserUs: cpu.userUs,
      cpuSystemUs: cpu.systemUs,
      memoryPeakBytes: memory.peakBytes,
      memoryPeakSource: memory.peakSource,
      oomKills: memory.oomKills,
      pidsPeak: readPidsPeak(this.fs, this.files, this.dirOf('pids')),
      ioReadBytes: io.readBytes,
      ioWriteBytes: io.writeBytes,
    };
  }

  /** Union over hierarchies: a launcher that failed half-way may have joined only some. */
  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs) collectPids(this.fs, dir, all);
    return [...all].sort((a, b) => a - b);
  }

  async killAll(): Promise<void> {
    const deadline = this.timing.now() + this.timing.killTimeoutMs;
    for (;;) {
      if (this.pids().length === 0) return;
      await this.killRound();
      const roundEnd = Math.min(deadline, this.timing.now() + ROUND_GRACE_MS);
      if (await pollUntil(this.timing, roundEnd, () => this.pids().length === 0)) return;
      if (this.timing.now() >= deadline) {
        throw new CellblockError(
          'CGROUP_FAILED',
          `processes ${this.pids().join(', ')} still in job cgroup ${this.name} ${this.timing.killTimeoutMs} ms after SIGKILL (stuck in uninterruptible sleep?)`,
        );
      }
    }
  }

  /**
   * Freeze, SIGKILL everything listed, thaw. While frozen nothing can fork or exit, so the
   * list is complete and no listed pid can be reused by another process before the signal.
   */
  private async killRound(): Promise<void> {
    const freezerDir = this.dirOf('freezer');
    // A job directory half-created by a crashed worker may lack the freezer part.
    const canFreeze = this.fs.exists(join(freezerDir, 'freezer.state'));
    if (canFreeze) await freeze(this.fs, freezerDir, this.timing);
    await runAll(`failed to kill job cgroup ${this.name}`, [
      () => killPids(this.fs, this.pids()),
      () => {
        if (canFreeze) thaw(this.fs, freezerDir);
      },
    ]);
  }

  async remove(): Promise<void> {
    if (await removeIfEmpty(this.fs, this.dirs)) return;
    await runAll(`failed to remove job cgroup ${this.name}`, [
      async () => {
        if (this.pids().length > 0) await this.killAll();
      },
      ...this.dirs.map((dir) => () => removeTree(this.fs, dir, this.timing)),
    ]);
  }
}
