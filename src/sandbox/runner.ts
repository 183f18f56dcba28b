// One job's whole life: prepare (job dir, uid range, cgroup) -> launch -> watch
// limits -> collect facts -> decide the verdict -> tear down, always. Every
// kernel object acquired here has one owner that releases it in `finally`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { detectCgroupDriver, type CgroupDriver, type CgroupStats, type CgroupWrite, type JobCgroup } from '../cgroup/index.ts';
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
import type { JobDir } from './job-dir.ts';
import type { LaunchConfig, LaunchEvents, LaunchOutcome } from './launch.ts';
import { DeadSandboxError, LauncherServer, type Launch } from './launcher-server.ts';
import { SandboxPool, type PreparedSandbox } from './sandbox-pool.ts';
import { LimitsWatch } from './limits-watch.ts';
import { CappedOutput } from './output.ts';
import { currentOwner, type Owner } from './owner.ts';
import { reconcile } from './reconcile.ts';
import { ensureRunDir, jobsDirIn, runDirIn, uidsDirIn } from './run-dir.ts';
import type { ReconcileReport, RunOptions, Runner, RunnerOptions } from './runner-api.ts';
import { UidRanges } from './uid-ranges.ts';
import { decideVerdict, type KillReason } from './verdict.ts';

export type { Runner, RunnerOptions, RunOptions, ReconcileReport } from './runner-api.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_LAUNCHER = path.join(REPO_ROOT, 'native/build/cellblock-launcher');
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Processes of the sandbox itself in its cgroup while the job runs (its pid 1): on
 * top of the job's `pids`, and not counted in its pids peak. (The process that made
 * the namespaces is gone by then; with pid 1 it made the peak 2 ahead of the job,
 * which any job, itself one process at least, reaches anyway.)
 */
const SANDBOX_PROCESSES = 1;
/** A job takes another prepared sandbox when the one it took had died, this many times at most. */
const MAX_SANDBOX_ATTEMPTS = 3;
/** Sandboxes prepared ahead of demand unless the caller says otherwise. */
const DEFAULT_PREPARED = 1;
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
  await ensureRunDir(opts.stateDir, opts.log);
  const jobsRoot = jobsDirIn(opts.stateDir);
  fs.mkdirSync(jobsRoot, { recursive: true });
  makeTraversable(opts.stateDir, jobsRoot);
  const uids = new UidRanges(uidsDirIn(opts.stateDir), opts.uidBase ?? 0x40000000, opts.uidRanges ?? 1024, owner);
  compileProfile(DEFAULT_PROFILE); // fail at start-up, not on the first job
  const launchers = new LauncherServer(launcher);
  launchers.start();
  const pool = new SandboxPool({ launchers, cgroups, uids, jobsRoot, owner, log: opts.log }, opts.prepared ?? DEFAULT_PREPARED);
  pool.fill();
  const runner = new SandboxRunner({ launchers, pool, reclaiming: new Set(), setupTimeoutMs: opts.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS, cgroups, images, jobsRoot, uids, owner, log: opts.log, workerId: opts.workerId });
  return runner;
}

/**
 * Each job's container root (an unprivileged host uid) walks from / to its own job
 * directory: the state dir, run/ and run/jobs/ must be traversable (not listable) by
 * others. Ours are made so; a parent that is not gets a clear error.
 */
function makeTraversable(stateDir: string, jobsRoot: string): void {
  fs.chmodSync(stateDir, (fs.statSync(stateDir).mode & 0o7777) | 0o111);
  for (const dir of [jobsRoot, runDirIn(stateDir)]) fs.chmodSync(dir, 0o711);
  for (let dir = path.dirname(path.resolve(stateDir)); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) {
      throw new CellblockError('INVALID_CONFIG', `${dir} is not traversable by other users, so sandboxes cannot reach their job directories below ${stateDir}: chmod o+x ${dir}, or choose another CELLBLOCK_STATE_DIR`);
    }
    if (dir === '/') break;
  }
}

interface RunnerParts {
  launchers: LauncherServer;
  pool: SandboxPool;
  /** Job directories and uid ranges still held by supervisors that are exiting. */
  reclaiming: Set<Promise<void>>;
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
    await this.p.pool.close();
    await Promise.allSettled([...this.p.reclaiming]);
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
    let sandbox: PreparedSandbox | undefined;
    const { limits } = this.spec;
    const onAbort = (): void => this.kill('cancel');

    let watch: LimitsWatch | undefined;
    const setupTimer = setTimeout(() => this.kill('setup'), this.p.setupTimeoutMs);
    const events: LaunchEvents = {
      onStarted: (ns) => {
        startedNs = ns;
        clearTimeout(setupTimer);
        this.log.debug({ phase: 'started', ms: nsToMs(ns - t0) }, 'sandbox ready');
        // A kill decided during setup (cancel, setup timeout) may have come before the
        // job joined its cgroup: kill again now rather than let it run.
        if (this.killedFor !== undefined) this.killCgroup();
        else watch?.start();
      },
      onStdout: (c) => this.stdout.push(c),
      onStderr: (c) => this.stderr.push(c),
    };

    try {
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (this.opts.signal?.aborted) this.kill('cancel');
      const handed = await this.handOver(events, t0);
      sandbox = handed.sandbox;
      this.launch = handed.launch;
      const cgroup = sandbox.cgroup;
      watch = new LimitsWatch(cgroup, limits, (r) => this.kill(r));
      try {
        outcome = await this.launch.done;
      } finally {
        watch.stop();
      }
      if (outcome.report.trace.length > 0) this.log.debug({ phase: 'launcher', steps: outcome.report.trace.map((t) => [t.step, nsToMs(t.atNs - t0)]) }, 'launcher steps');
      this.log.debug({ phase: 'done', ms: msSince(t0) }, 'every process of the job is gone');
      await this.killing;
      stats = withCpuTotal(cgroup.stats(), cgroup.cpuUsageUs());
      this.log.debug({ phase: 'stats', ms: msSince(t0) }, 'stats read');
      const collect = this.opts.collect;
      if (collect !== undefined && outcome.report.setupFailed === undefined) collect.onCollected(parseCollected(outcome.collected, collect));
    } catch (err) {
      failure = err;
    } finally {
      clearTimeout(setupTimer);
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
    const endNs = process.hrtime.bigint();

    const teardownErrors = await this.teardown(outcome, sandbox);
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

  /** Take a sandbox and hand it the job; a sandbox that could not take it is given back. */
  private async handOver(events: LaunchEvents, t0: bigint): Promise<{ sandbox: PreparedSandbox; launch: Launch }> {
    for (let attempt = 1; ; attempt++) {
      const sandbox = await this.takeSandbox();
      this.cgroup = sandbox.cgroup;
      this.log.debug({ phase: 'sandbox', sandbox: sandbox.id, ms: msSince(t0) }, 'sandbox taken');
      try {
        const config = this.configure(sandbox);
        this.log.debug({ phase: 'launch', ms: msSince(t0) }, 'handing over to the launcher');
        return { sandbox, launch: sandbox.launch.start(config, this.spec.stdin, events) };
      } catch (err) {
        this.cgroup = undefined;
        this.reclaimLater(sandbox, false);
        if (!(err instanceof DeadSandboxError) || attempt >= MAX_SANDBOX_ATTEMPTS) throw err;
        this.log.warn({ sandbox: sandbox.id }, 'the prepared sandbox had died; taking another');
      }
    }
  }

  /** The job's part of a sandbox: image recorded, files staged. Returns the launcher's configuration (with the limits). */
  private configure(sandbox: PreparedSandbox): LaunchConfig {
    const { dir, range } = sandbox;
    const { limits } = this.spec;
    // Recorded before the rootfs is checked: image rm and GC see it and leave the image alone.
    dir.recordImage(this.image.digest);
    if (!fs.existsSync(this.image.rootfs)) throw new CellblockError('IMAGE_NOT_FOUND', `image ${this.image.name} (${this.image.digest}) was removed as the job started`);
    const filesLayer = dir.stageFiles({ files: this.spec.files, cwd: this.job.cwd, user: this.job.user }, range, this.image.rootfs);
    // Written by the launcher, before anything of the job runs.
    const cgroupWrites = sandbox.cgroup.limitWrites({ memoryBytes: limits.memoryBytes, cpus: limits.cpus, pids: limits.pids + SANDBOX_PROCESSES });
    return this.launchConfig(filesLayer, cgroupWrites);
  }

  /**
   * A prepared sandbox. When every uid range is taken and this runner holds some
   * (its jobs', its reclaims', its preparations'), wait until one is given back or
   * a preparation ends, and try again.
   */
  private async takeSandbox(): Promise<PreparedSandbox> {
    for (;;) {
      try {
        return await this.p.pool.take();
      } catch (err) {
        // Ranges held here come back (jobs end, reclaims finish, preparations end
        // up in jobs); ranges held by others are not ours to wait for.
        if (!(err instanceof CellblockError && err.code === 'NO_UID_RANGE') || this.p.uids.held === 0) throw err;
        await Promise.race([this.p.uids.nextRelease(), ...this.p.pool.inPreparation()]);
      }
    }
  }

  private launchConfig(filesLayer: string | undefined, cgroupWrites: CgroupWrite[]): LaunchConfig {
    const { spec, image } = this;
    const env = new Map<string, string>([['PATH', DEFAULT_PATH], ['HOME', this.job.cwd], ['HOSTNAME', spec.hostname]]);
    for (const [k, v] of Object.entries(image.config.env)) env.set(k, v);
    for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
    const l = spec.limits;
    return {
      rootfs: image.rootfs,
      filesLayer,
      uid: this.job.user.uid,
      gid: this.job.user.gid,
      hostname: spec.hostname,
      cwd: this.job.cwd,
      diskBytes: l.diskBytes,
      diskInodes: Math.min(1 << 20, Math.max(1024, Math.floor(l.diskBytes / 4096))),
      // Per-process backstops; the cgroup-wide limits are the ones that count.
      rlimits: { nofile: l.openFiles, stack: l.stackBytes, fsize: l.diskBytes, cpuSeconds: Math.ceil(l.cpuMs / 1000) + 1, nproc: l.pids + SANDBOX_PROCESSES },
      cgroupWrites,
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

  /**
   * What the result waits for: no process of the job left (a launcher that did
   * not finish is killed, which takes its job with it). Returns the failures.
   * The cgroup, the supervisor's own exit (its mounts, the job's namespaces) and
   * what it still holds (job directory, uid range) are reclaimed after the
   * result, off the job's path.
   */
  private async teardown(outcome: LaunchOutcome | undefined, sandbox: PreparedSandbox | undefined): Promise<unknown[]> {
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(new CellblockError('SANDBOX_FAILED', `teardown: ${what}: ${errorMessage(err)}`, { cause: err }));
        this.log.error({ err: errorMessage(err), step: what }, 'teardown step failed');
      }
    };
    if (!sandbox) return errors;
    const launch = this.launch;
    if (launch && outcome === undefined) {
      await step('launcher', async () => {
        launch.kill();
        await launch.done;
      });
    }
    this.reclaimLater(sandbox, launch !== undefined);
    return errors;
  }

  /**
   * After the result, off the job's path (tracked until close()): the cgroup (its
   * stats are read), then, once the supervisor is gone (its mounts with it), the
   * job directory and the uid range. Also for a sandbox that never got its job:
   * its supervisor may still be making the cgroup, so that one goes first.
   */
  private reclaimLater(sandbox: PreparedSandbox, gotItsJob: boolean): void {
    const started = process.hrtime.bigint();
    const reclaim = (async (): Promise<void> => {
      // Not before the result is on its way.
      await new Promise((resolve) => setImmediate(resolve));
      // A failure is left for reconcile (next start) to find; nothing reuses it meanwhile.
      const step = async (what: string, fn: () => unknown): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          this.log.error({ err: errorMessage(err), step: what }, 'reclaim step failed');
        }
      };
      // A sandbox that never got its job is discarded; a used one is waited for
      // (once it has reported, it made its cgroup long ago: removed meanwhile).
      if (!gotItsJob) await sandbox.launch.discard();
      await step('cgroup', () => sandbox.cgroup.remove());
      await sandbox.launch.discard();
      await step('job directory', () => sandbox.dir.remove());
      await step('uid range', () => this.p.uids.release(sandbox.range));
      this.log.debug({ phase: 'reclaim', ms: msSince(started) }, 'reclaimed');
    })();
    this.p.reclaiming.add(reclaim);
    void reclaim.finally(() => this.p.reclaiming.delete(reclaim));
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
        pidsPeak: stats?.pidsPeak == null ? null : Math.max(0, stats.pidsPeak - SANDBOX_PROCESSES),
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

