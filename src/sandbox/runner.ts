// One job's whole life: prepare (job dir, uid range, cgroup) -> launch -> watch
// limits -> collect facts -> decide the verdict -> tear down, always. Every
// kernel object acquired here has one owner that releases it in `finally`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { detectCgroupDriver, type CgroupDriver, type CgroupStats, type JobCgroup } from '../cgroup/index.ts';
import { CellblockError, errorMessage } from '../errors.ts';
import { resolveJobDefaults, type ResolvedJob } from '../image/job-defaults.ts';
import { ImageStore } from '../image/store.ts';
import type { ResolvedImage } from '../image/types.ts';
import type { JobResult } from '../job/result.ts';
import type { JobSpec } from '../job/spec.ts';
import type { Logger } from '../log.ts';
import { compileProfile, jobFilters } from '../seccomp/compile.ts';
import { DEFAULT_PROFILE } from '../seccomp/profile.ts';
import { parseCollected } from './collect.ts';
import { JobDir } from './job-dir.ts';
import { Launch, LauncherPool, type LaunchConfig, type LaunchOutcome } from './launch.ts';
import { LimitsWatch } from './limits-watch.ts';
import { CappedOutput } from './output.ts';
import { currentOwner, type Owner } from './owner.ts';
import { reconcile } from './reconcile.ts';
import type { ReconcileReport, RunOptions, Runner, RunnerOptions } from './runner-api.ts';
import { UidRanges, type UidRange } from './uid-ranges.ts';
import { decideVerdict, type KillReason } from './verdict.ts';

export type { Runner, RunnerOptions, RunOptions, ReconcileReport } from './runner-api.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_LAUNCHER = path.join(REPO_ROOT, 'native/build/cellblock-launcher');
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A sandbox that has not started its job by then is stuck in setup. */
const DEFAULT_SETUP_TIMEOUT_MS = 30_000;

const msSince = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

export async function createRunner(opts: RunnerOptions): Promise<Runner> {
  const launcher = opts.launcherPath ?? DEFAULT_LAUNCHER;
  if (!fs.existsSync(launcher)) {
    throw new CellblockError('LAUNCHER_MISSING', `the native launcher ${launcher} is missing: run \`npm run build:native\` (needs gcc)`);
  }
  const cgroups = detectCgroupDriver({ parentName: opts.cgroupParent ?? 'cellblock' });
  const owner = currentOwner();
  const images = new ImageStore(path.join(opts.stateDir, 'images'), opts.log);
  const jobsRoot = path.join(opts.stateDir, 'jobs');
  fs.mkdirSync(jobsRoot, { recursive: true });
  makeTraversable(opts.stateDir, jobsRoot);
  const uids = new UidRanges(path.join(opts.stateDir, 'uids'), opts.uidBase ?? 0x40000000, opts.uidRanges ?? 1024, owner);
  compileProfile(DEFAULT_PROFILE); // fail at start-up, not on the first job
  const launchers = new LauncherPool(launcher, opts.prewarm ?? 0);
  const runner = new SandboxRunner({ launchers, setupTimeoutMs: opts.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS, cgroups, images, jobsRoot, uids, owner, log: opts.log, workerId: opts.workerId });
  return runner;
}

/**
 * Each job's container root (an unprivileged host uid) walks from / to its own job
 * directory: the state dir and jobs/ must be traversable (not listable) by others.
 * Ours are made so; a parent that is not gets a clear error.
 */
function makeTraversable(stateDir: string, jobsRoot: string): void {
  for (const dir of [jobsRoot, stateDir]) fs.chmodSync(dir, (fs.statSync(dir).mode & 0o7777) | 0o111);
  fs.chmodSync(jobsRoot, 0o711);
  for (let dir = path.dirname(path.resolve(stateDir)); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) {
      throw new CellblockError('INVALID_CONFIG', `${dir} is not traversable by other users, so sandboxes cannot reach their job directories below ${stateDir}: chmod o+x ${dir}, or choose another CELLBLOCK_STATE_DIR`);
    }
    if (dir === '/') break;
  }
}

interface RunnerParts {
  launchers: LauncherPool;
  setupTimeoutMs: number;
  cgroups: CgroupDriver;
  images: ImageStore;
  jobsRoot: string;
  uids: UidRanges;
  owner: Owner;
  log: Logger;
  workerId: string | undefined;
}

class SandboxRunner implements Runner {
  private readonly running = new Set<Promise<JobResult>>();
  private closed = false;

  constructor(private readonly p: RunnerParts) {}

  async run(spec: JobSpec, opts: RunOptions): Promise<JobResult> {
    if (this.closed) throw new CellblockError('SANDBOX_FAILED', 'the runner is closed');
    if (!JOB_ID.test(opts.jobId)) throw new CellblockError('SANDBOX_FAILED', `job id ${JSON.stringify(opts.jobId)} is not [A-Za-z0-9_-]{1,64}`);
    // An unknown image is the spec's fault: thrown before anything is acquired.
    const image = this.p.images.resolve(spec.image);
    // So is a seccomp profile that does not compile (INVALID_JOB).
    const seccomp = jobFilters(spec.seccomp);
    const job = new SandboxJob(this.p, spec, image, seccomp, opts);
    const running = job.run();
    this.running.add(running);
    try {
      return await running;
    } finally {
      this.running.delete(running);
    }
  }

  reconcile(): Promise<ReconcileReport> {
    return reconcile({ cgroups: this.p.cgroups, jobsRoot: this.p.jobsRoot, uids: this.p.uids, log: this.p.log });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
    await this.p.launchers.close();
  }
}

/** The state of one job run; used once. */
class SandboxJob {
  private readonly log: Logger;
  private readonly stdout: CappedOutput;
  private readonly stderr: CappedOutput;
  private killedFor: KillReason | undefined;
  private cgroup: JobCgroup | undefined;
  private launch: Launch | undefined;
  private killing: Promise<void> | undefined;
  /** cwd, user and argv: the job's own, else the image config's, else the defaults. */
  private readonly job: ResolvedJob;

  constructor(
    private readonly p: RunnerParts,
    private readonly spec: JobSpec,
    private readonly image: ResolvedImage,
    private readonly seccomp: readonly Buffer[],
    private readonly opts: RunOptions,
  ) {
    // A caller's logger already names the job.
    this.log = opts.log ?? p.log.child({ jobId: opts.jobId });
    // Throws (INVALID_JOB, IMAGE_INVALID) before anything is acquired.
    this.job = resolveJobDefaults(spec, image);
    const limit = spec.limits.outputBytes;
    this.stdout = new CappedOutput(limit, () => this.kill('output'));
    this.stderr = new CappedOutput(limit, () => this.kill('output'));
  }

  async run(): Promise<JobResult> {
    const t0 = process.hrtime.bigint();
    let outcome: LaunchOutcome | undefined;
    let stats: CgroupStats | undefined;
    let failure: unknown;
    let startedNs: bigint | undefined;
    let range: UidRange | undefined;
    let dir: JobDir | undefined;
    const { limits } = this.spec;
    const onAbort = (): void => this.kill('cancel');

    try {
      range = this.p.uids.acquire();
      dir = JobDir.create(this.p.jobsRoot, this.opts.jobId, this.p.owner, range);
      // Recorded before the rootfs is checked: image rm and GC see it and leave the image alone.
      dir.recordImage(this.image.digest);
      if (!fs.existsSync(this.image.rootfs)) throw new CellblockError('IMAGE_NOT_FOUND', `image ${this.image.name} (${this.image.digest}) was removed as the job started`);
      const filesLayer = dir.stageFiles({ files: this.spec.files, cwd: this.job.cwd, user: this.job.user }, range, this.image.rootfs);
      this.cgroup = this.p.cgroups.create(this.opts.jobId, { memoryBytes: limits.memoryBytes, cpus: limits.cpus, pids: limits.pids });
      const cgroup = this.cgroup;
      this.log.debug({ phase: 'prepare', ms: msSince(t0) }, 'prepared');

      const watch = new LimitsWatch(cgroup, limits, (r) => this.kill(r));
      const setupTimer = setTimeout(() => this.kill('setup'), this.p.setupTimeoutMs);
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (this.opts.signal?.aborted) this.kill('cancel');
      this.launch = new Launch(this.p.launchers.take(), this.launchConfig(dir, range, filesLayer, cgroup), this.spec.stdin, {
        onStarted: (ns) => {
          startedNs = ns;
          clearTimeout(setupTimer);
          this.log.debug({ phase: 'started', ms: nsToMs(ns - t0) }, 'sandbox ready');
          // A kill decided during setup (cancel, setup timeout) found an empty cgroup: the
          // job joined it since, so kill again now rather than let it run.
          if (this.killedFor !== undefined) this.killCgroup();
          else watch.start();
        },
        onStdout: (c) => this.stdout.push(c),
        onStderr: (c) => this.stderr.push(c),
      });
      try {
        outcome = await this.launch.done;
      } finally {
        watch.stop();
        clearTimeout(setupTimer);
      }
      await this.killing;
      stats = withCpuTotal(cgroup.stats(), cgroup.cpuUsageUs());
      const collect = this.opts.collect;
      if (collect !== undefined && outcome.report.setupFailed === undefined) collect.onCollected(parseCollected(outcome.collected, collect));
    } catch (err) {
      failure = err;
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
    const endNs = process.hrtime.bigint();

    const teardownErrors = await this.teardown(dir, range);
    const teardownMs = msSince(endNs);
    const exitedNs = outcome?.report.exited?.atNs;
    const result = this.result(outcome, stats, failure ?? teardownErrors[0], {
      setupMs: startedNs !== undefined ? nsToMs(startedNs - t0) : nsToMs(endNs - t0),
      runMs: startedNs !== undefined ? nsToMs((exitedNs ?? endNs) - startedNs) : 0,
      collectMs: exitedNs !== undefined ? nsToMs(endNs - exitedNs) : 0,
      teardownMs,
    });
    this.log.debug({ phase: 'teardown', ms: teardownMs }, 'torn down');
    return result;
  }

  private launchConfig(dir: JobDir, range: UidRange, filesLayer: string | undefined, cgroup: JobCgroup): LaunchConfig {
    const { spec, image } = this;
    const env = new Map<string, string>([['PATH', DEFAULT_PATH], ['HOME', this.job.cwd], ['HOSTNAME', spec.hostname]]);
    for (const [k, v] of Object.entries(image.config.env)) env.set(k, v);
    for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
    const l = spec.limits;
    return {
      rootfs: image.rootfs,
      jobDir: dir.path,
      filesLayer,
      uidBase: range.base,
      uidCount: range.count,
      uid: this.job.user.uid,
      gid: this.job.user.gid,
      hostname: spec.hostname,
      cwd: this.job.cwd,
      diskBytes: l.diskBytes,
      diskInodes: Math.min(1 << 20, Math.max(1024, Math.floor(l.diskBytes / 4096))),
      // Per-process backstops; the cgroup-wide limits are the ones that count.
      rlimits: { nofile: l.openFiles, stack: l.stackBytes, fsize: l.diskBytes, cpuSeconds: Math.ceil(l.cpuMs / 1000) + 1, nproc: l.pids },
      cgroupProcs: cgroup.procsFiles,
      seccomp: this.seccomp,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      argv: this.job.argv,
      // Patterns relative to the job's cwd (known only now, from the image) are made absolute.
      ...(this.opts.collect !== undefined
        ? { collect: { ...this.opts.collect, patterns: this.opts.collect.patterns.map((p) => path.posix.resolve(this.job.cwd, p)) } }
        : {}),
    };
  }

  /** End the job now: every process in its cgroup, at once. */
  private kill(reason: KillReason): void {
    if (this.killedFor !== undefined) return;
    this.killedFor = reason;
    this.log.debug({ phase: 'kill', reason }, 'killing the job');
    this.killCgroup();
  }

  private killCgroup(): void {
    const cgroup = this.cgroup;
    if (!cgroup) return;
    const previous = this.killing ?? Promise.resolve();
    this.killing = previous.then(() => cgroup.killAll()).catch((err: unknown) => {
      // The cgroup could not be emptied: end the launcher, which takes the job with it.
      this.log.error({ err: errorMessage(err) }, 'kill via cgroup failed; killing the launcher');
      this.launch?.kill();
    });
  }

  /** Runs every step even when one fails; returns the failures. */
  private async teardown(dir: JobDir | undefined, range: UidRange | undefined): Promise<unknown[]> {
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(new CellblockError('SANDBOX_FAILED', `teardown: ${what}: ${errorMessage(err)}`, { cause: err }));
        this.log.error({ err: errorMessage(err), step: what }, 'teardown step failed');
      }
    };
    await step('launcher', async () => {
      if (this.launch) {
        this.launch.kill();
        await this.launch.done;
      }
    });
    if (this.cgroup) {
      const cgroup = this.cgroup;
      await step('cgroup', () => cgroup.remove());
    }
    if (dir) {
      const d = dir;
      await step('job directory', () => d.remove());
    }
    if (range) {
      const r = range;
      await step('uid range', () => this.p.uids.release(r));
    }
    return errors;
  }

  private result(
    outcome: LaunchOutcome | undefined,
    stats: CgroupStats | undefined,
    failure: unknown,
    timings: { setupMs: number; runMs: number; collectMs: number; teardownMs: number },
  ): JobResult {
    const cpuUserMs = (stats?.cpuUserUs ?? 0) / 1000;
    const cpuSysMs = (stats?.cpuSystemUs ?? 0) / 1000;
    const { limits } = this.spec;
    const decision = outcome && failure === undefined
      ? decideVerdict({
          report: outcome.report,
          killedFor: this.killedFor,
          oomKills: stats?.oomKills ?? 0,
          cpuMs: cpuUserMs + cpuSysMs,
          cpuLimitMs: limits.cpuMs,
          wallLimitMs: limits.wallMs,
          setupLimitMs: this.p.setupTimeoutMs,
          outputLimitBytes: limits.outputBytes,
          launcherExit: outcome.exit,
        })
      : { verdict: 'INTERNAL_ERROR' as const, message: errorMessage(failure ?? 'the sandbox did not run'), exitCode: null, signal: null };
    const result: JobResult = {
      jobId: this.opts.jobId,
      verdict: decision.verdict,
      exitCode: decision.exitCode,
      signal: decision.signal,
      stdout: this.stdout.text(),
      stderr: this.stderr.text(),
      stdoutTruncated: this.stdout.truncated,
      stderrTruncated: this.stderr.truncated,
      stats: {
        wallMs: round(timings.runMs),
        cpuUserMs: round(cpuUserMs),
        cpuSysMs: round(cpuSysMs),
        cpuMs: round(cpuUserMs + cpuSysMs),
        memoryPeakBytes: stats?.memoryPeakBytes ?? 0,
        pidsPeak: stats?.pidsPeak ?? null,
        ioReadBytes: stats?.ioReadBytes ?? 0,
        ioWriteBytes: stats?.ioWriteBytes ?? 0,
        oomKilled: (stats?.oomKills ?? 0) > 0,
        diskUsedBytes: outcome?.report.disk?.usedBytes ?? 0,
      },
      timings: { setupMs: round(timings.setupMs), runMs: round(timings.runMs), collectMs: round(timings.collectMs), teardownMs: round(timings.teardownMs) },
      image: { name: this.image.name, digest: this.image.digest },
    };
    if (decision.message !== undefined) result.message = decision.message;
    if (this.p.workerId !== undefined) result.worker = this.p.workerId;
    if (decision.verdict === 'INTERNAL_ERROR') this.log.error({ message: decision.message }, 'internal error');
    return result;
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The user/system split (v1 cpuacct.usage_user/_sys) is sampled and can fall short
 * of the precise total the cpu limit is enforced on; scale it to that total so the
 * reported cpu time and the TIME_LIMIT decision always agree.
 */
function withCpuTotal(stats: CgroupStats, totalUs: number): CgroupStats {
  const split = stats.cpuUserUs + stats.cpuSystemUs;
  if (totalUs <= split) return stats;
  if (split === 0) return { ...stats, cpuUserUs: totalUs };
  return { ...stats, cpuUserUs: (stats.cpuUserUs * totalUs) / split, cpuSystemUs: (stats.cpuSystemUs * totalUs) / split };
}

