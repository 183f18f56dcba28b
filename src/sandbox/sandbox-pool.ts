// Sandboxes prepared ahead of their jobs: each has its own uid range, job
// directory (named after the sandbox, not the job), cgroup (limits come with the
// job) and a supervisor that has already mapped its user namespace, joined the
// cgroup and made the job's other namespaces. A job takes one, and a fresh one
// is prepared in the background; none is ever reused.
import { randomBytes } from 'node:crypto';
import type { CgroupDriver, JobCgroup } from '../cgroup/index.ts';
import { CellblockError, errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { JobDir } from './job-dir.ts';
import type { LauncherServer, PreparedLaunch } from './launcher-server.ts';
import type { Owner } from './owner.ts';
import type { UidRange, UidRanges } from './uid-ranges.ts';

/** After a failed preparation in the background, the next one waits for a job to ask. */
const REFILL_BACKOFF_MS = 1000;

export interface PreparedSandbox {
  /** Names the job directory and the cgroup. */
  readonly id: string;
  readonly range: UidRange;
  readonly dir: JobDir;
  readonly cgroup: JobCgroup;
  readonly launch: PreparedLaunch;
}

export interface SandboxPoolParts {
  launchers: LauncherServer;
  cgroups: CgroupDriver;
  uids: UidRanges;
  jobsRoot: string;
  owner: Owner;
  log: Logger;
}

export class SandboxPool {
  private readonly idle: PreparedSandbox[] = [];
  /** Distinct per pool, so pools sharing a state dir never pick the same name. */
  private readonly tag = `sb${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  private seq = 0;
  private readonly preparing = new Set<Promise<void>>();
  /** Jobs that found none ready, each waiting for the next preparation to end (undefined: it failed). */
  private readonly waiting: ((sandbox: PreparedSandbox | undefined) => void)[] = [];
  /** Sandboxes being given back unused (close() waits for them). */
  private readonly discarding = new Set<Promise<void>>();
  private failedAt = 0;
  /** Every uid range was taken: no preparation until one of ours is given back. */
  private rangesTaken = false;
  private closed = false;

  constructor(private readonly p: SandboxPoolParts, private readonly size: number) {}

  /** Prepare the pool's sandboxes now (errors are logged; jobs then prepare their own). */
  fill(): void {
    this.refill();
  }

  /**
   * A sandbox for one job: a prepared one if one is ready, else the next one to
   * finish its preparation (it is well on its way), else one prepared now.
   */
  async take(): Promise<PreparedSandbox> {
    let sandbox = this.idle.shift();
    while (sandbox !== undefined && !sandbox.launch.alive) {
      this.p.log.warn({ sandbox: sandbox.id }, 'a prepared sandbox died while waiting; discarding it');
      void this.discardLater(sandbox);
      sandbox = this.idle.shift();
    }
    this.refill();
    if (sandbox !== undefined) return sandbox;
    if (this.waiting.length < this.preparing.size) {
      const next = await new Promise<PreparedSandbox | undefined>((resolve) => this.waiting.push(resolve));
      if (next !== undefined) return next;
    }
    return this.prepare();
  }

  /** Undo a sandbox that no job used, once its supervisor has gone. */
  async discard(sandbox: PreparedSandbox): Promise<void> {
    await sandbox.launch.discard();
    await release(sandbox, this.p.uids, this.p.log);
  }

  /** Sandboxes being prepared now (each holds a uid range). */
  inPreparation(): Promise<void>[] {
    return [...this.preparing];
  }

  /** Every sandbox given back, the ones in preparation included, before it resolves. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.preparing]);
    await Promise.all(this.idle.splice(0).map((s) => this.discard(s)));
    await Promise.allSettled([...this.discarding]);
  }

  private discardLater(sandbox: PreparedSandbox): Promise<void> {
    const discarding = this.discard(sandbox);
    this.discarding.add(discarding);
    void discarding.finally(() => this.discarding.delete(discarding));
    return discarding;
  }

  /**
   * Top the pool up in the background, preparations side by side (much of one is
   * waiting for the kernel: RCU grace periods on cgroup joins and unmounts).
   */
  private refill(): void {
    while (!this.closed && !this.rangesTaken && this.idle.length + this.preparing.size < this.size) {
      const making = this.prepare().then(
        (sandbox) => {
          // A job waiting for it gets it (its run is tracked: close() waits for it).
          const waiter = this.waiting.shift();
          if (waiter !== undefined) return waiter(sandbox);
          if (this.closed) return this.discardLater(sandbox);
          this.idle.push(sandbox);
          return undefined;
        },
        (err: unknown) => {
          this.p.log.warn({ err: errorMessage(err) }, 'could not prepare a sandbox ahead of demand');
          this.failedAt = Date.now();
          if (err instanceof CellblockError && err.code === 'NO_UID_RANGE') this.pauseUntilRangeReleased();
          this.waiting.shift()?.(undefined);
        },
      );
      this.preparing.add(making);
      void making.finally(() => {
        this.preparing.delete(making);
        // After a failure, wait for the next job rather than retry in a loop.
        if (Date.now() - this.failedAt > REFILL_BACKOFF_MS) this.refill();
      });
      // Soon after a failure, one at a time.
      if (Date.now() - this.failedAt <= REFILL_BACKOFF_MS) break;
    }
  }

  /** A preparation now would fail the same way: wait for a range to come back. */
  private pauseUntilRangeReleased(): void {
    if (this.rangesTaken) return;
    this.rangesTaken = true;
    void this.p.uids.nextRelease().then(() => {
      this.rangesTaken = false;
      this.refill();
    });
  }

  private async prepare(): Promise<PreparedSandbox> {
    const id = `${this.tag}-${++this.seq}`;
    const range = await this.p.uids.acquire();
    let dir: JobDir | undefined;
    let cgroup: JobCgroup | undefined;
    try {
      dir = await JobDir.create(this.p.jobsRoot, id, this.p.owner, range);
      // Its directories are made by the sandbox's launcher.
      cgroup = this.p.cgroups.open(id);
      const launch = this.p.launchers.prepare({ uidBase: range.base, uidCount: range.count, jobDir: dir.path, cgroups: cgroup.dirs });
      return { id, range, dir, cgroup, launch };
    } catch (err) {
      // Each step on its own: one that fails does not keep the others.
      const undo = async (what: string, fn: () => Promise<void>): Promise<void> => {
        await fn().catch((e: unknown) => this.p.log.error({ err: errorMessage(e), step: what, sandbox: id }, 'could not undo a sandbox that failed to prepare'));
      };
      const [madeCgroup, madeDir] = [cgroup, dir];
      if (madeCgroup) await undo('cgroup', () => madeCgroup.remove());
      if (madeDir) await undo('job directory', () => madeDir.remove());
      await undo('uid range', () => this.p.uids.release(range));
      throw err instanceof CellblockError ? err : new CellblockError('SANDBOX_FAILED', `could not prepare a sandbox: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/** What a sandbox holds once its supervisor is gone: cgroup, directory, uid range. */
async function release(sandbox: PreparedSandbox, uids: UidRanges, log: Logger): Promise<void> {
  const step = async (what: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      log.error({ err: errorMessage(err), step: what, sandbox: sandbox.id }, 'releasing a sandbox failed');
    }
  };
  await step('cgroup', () => sandbox.cgroup.remove());
  await step('job directory', () => sandbox.dir.remove());
  await step('uid range', () => uids.release(sandbox.range));
}
