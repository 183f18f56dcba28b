// The queue side of a worker process: takes jobs from BullMQ, validates them at the
// edge, runs each through the Runner and returns the JobResult as the job's value.
// Also: per-tenant limits, graceful shutdown (jobs cut short go back to the
// queue), metrics hooks.
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job, type WorkerOptions } from 'bullmq';
import { parseJobSpec, InvalidJobError, JobSpecSchema, type JobSpec } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import { isJudgeJob } from '../job/spec.ts';
import { runJudge } from '../judge/judge.ts';
import type { Runner } from '../sandbox/runner-api.ts';
import type { WorkerMetrics } from '../metrics/registry.ts';
import { silentLogger, type Logger } from '../log.ts';
import { CellblockError, errorMessage } from '../errors.ts';
import { createRedisConnection, type RedisConnection, type RedisTarget } from './connection.ts';
import { sandboxJobId } from './job-id.ts';
import { TenantSlots } from './tenant-slots.ts';
import { CANCEL_REASON, cancelChannel, cancelKey, cancelledBeforeStart } from './cancel.ts';

export interface CellblockWorkerOptions {
  /** A redis:// URL, or a Sentinel/Cluster target with the queue's key prefix. */
  redis: RedisTarget | string;
  queueName: string;
  /** Owned from here on: close() closes it. */
  runner: Runner;
  workerId: string;
  /** Jobs run at once by this worker. */
  concurrency: number;
  log?: Logger;
  /** Injected for tests; Date.now by default. */
  now?: () => number;
  /** Job lock; a dead worker's jobs return to the queue after about this long. Default 30 s. */
  lockMs?: number;
  /** Jobs of one tenant running at once across all workers; 0 or absent: no limit. */
  tenantMaxRunning?: number;
  /** BullMQ's rate limiter for the queue. */
  rateLimit?: { max: number; durationMs: number };
  metrics?: WorkerMetrics;
  /** Judge jobs' files out too large for the result are written below this directory. */
  resultsDir?: string;
  /** Tuning passed through to BullMQ (drainDelay, ...). */
  bullmq?: Omit<Partial<WorkerOptions>, 'connection' | 'concurrency' | 'name' | 'autorun'>;
}

type CellblockJob = Job<unknown, JobResult>;

/** Runner failures that no retry can fix: the job fails at once, with the reason. */
const PERMANENT_CODES = new Set<string>(['INVALID_JOB', 'IMAGE_NOT_FOUND', 'IMAGE_INVALID']);
/** A job whose tenant is at its limit waits this long (plus jitter) before it is tried again. */
const TENANT_RETRY_MS = 250;
/** Running jobs' cancel keys are read this often: the backstop for a missed pub/sub message. */
const CANCEL_POLL_MS = 1000;

export class CellblockWorker implements AsyncDisposable {
  readonly workerId: string;
  readonly queueName: string;
  private readonly runner: Runner;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly connection: RedisConnection;
  private readonly worker: Worker<unknown, JobResult>;
  private readonly tenants: TenantSlots | undefined;
  private readonly metrics: WorkerMetrics | undefined;
  private readonly resultsDir: string | undefined;
  private shuttingDown = false;
  private closing: Promise<void> | undefined;
  /** Cancel requests arrive here (a subscriber connection can send nothing else). */
  private readonly cancelSubscriber: RedisConnection;
  private readonly cancelSubscribed: Promise<void>;
  private readonly cancelPoll: NodeJS.Timeout;
  /** BullMQ ids of the jobs this worker is processing, and of those their owner cancelled. */
  private readonly active = new Set<string>();
  private readonly userCancelled = new Set<string>();

  /** Reconcile what a crashed worker left, then start taking jobs. */
  static async start(opts: CellblockWorkerOptions): Promise<CellblockWorker> {
    const log = opts.log ?? silentLogger;
    const report = await opts.runner.reconcile();
    opts.metrics?.reconciled(report);
    if (report.cgroupsRemoved + report.jobDirsRemoved + report.processesKilled > 0) {
      log.warn({ ...report }, 'removed leftovers of an earlier worker');
    }
    const worker = new CellblockWorker(opts);
    await worker.waitUntilReady();
    return worker;
  }

  /** Starts taking jobs at once; prefer start(), which reconciles first. */
  constructor(opts: CellblockWorkerOptions) {
    this.workerId = opts.workerId;
    this.queueName = opts.queueName;
    this.runner = opts.runner;
    this.metrics = opts.metrics;
    this.resultsDir = opts.resultsDir;
    this.log = (opts.log ?? silentLogger).child({ queue: opts.queueName, worker: opts.workerId });
    this.now = opts.now ?? Date.now;
    this.connection = createRedisConnection(opts.redis, `cellblock-worker:${opts.workerId}`);
    const prefix = typeof opts.redis === 'string' ? undefined : opts.redis.prefix;
    const lockMs = opts.lockMs ?? 30_000;
    if ((opts.tenantMaxRunning ?? 0) > 0) {
      this.tenants = new TenantSlots(this.connection, `${prefix ?? 'bull'}:${opts.queueName}`, opts.tenantMaxRunning ?? 0, lockMs * 2, this.now);
    }
    // The processor declares three parameters: BullMQ hands an AbortSignal only to
    // processors whose length is 3 or more.
    const processor = (job: CellblockJob, token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> =>
      this.processCancellable(job, token, signal);
    this.worker = new Worker<unknown, JobResult>(opts.queueName, processor, {
      ...opts.bullmq,
      ...(prefix !== undefined ? { prefix } : {}),
      ...(opts.rateLimit && opts.rateLimit.max > 0 ? { limiter: { max: opts.rateLimit.max, duration: opts.rateLimit.durationMs } } : {}),
      lockDuration: lockMs,
      stalledInterval: lockMs,
      connection: this.connection,
      concurrency: opts.concurrency,
      name: opts.workerId,
      autorun: true,
    });
    // An 'error' event without a listener would crash the process; Redis blips are
    // retried by ioredis and BullMQ, so they are only logged.
    this.worker.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'worker error'));
    this.worker.on('stalled', (jobId) => this.log.warn({ bullJobId: jobId }, 'job stalled (its worker died?); BullMQ moved it back to wait'));

    this.cancelSubscriber = createRedisConnection(opts.redis, `cellblock-cancel:${opts.workerId}`);
    this.cancelSubscriber.on('error', (err: unknown) => this.log.error({ err: errorMessage(err) }, 'cancel subscriber error'));
    this.cancelSubscriber.on('message', (_channel: string, bullJobId: string) => this.cancelRunning(bullJobId));
    this.cancelSubscribed = this.cancelSubscriber.subscribe(cancelChannel(this.worker.toKey)).then(() => undefined);
    // Until waitUntilReady() is called, a failure is only logged (and must not be unhandled).
    this.cancelSubscribed.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'could not subscribe to cancel requests'));
    this.cancelPoll = setInterval(() => void this.pollCancelKeys(), CANCEL_POLL_MS).unref();
  }

  async waitUntilReady(): Promise<void> {
    await Promise.all([this.worker.waitUntilReady(), this.cancelSubscribed]);
  }

  isRunning(): boolean {
    return this.worker.isRunning() && !this.shuttingDown;
  }

  /** Abort every running job (their sandboxes are killed); they fail with `reason`. */
  cancelAll(reason: string): void {
    this.worker.cancelAllJobs(reason);
  }

  /** A cancel request for a job this worker runs: abort it (its sandbox is killed; the job completes CANCELLED). */
  private cancelRunning(bullJobId: string): void {
    if (!this.active.has(bullJobId) || this.userCancelled.has(bullJobId)) return;
    this.userCancelled.add(bullJobId);
    this.log.info({ bullJobId }, 'cancel requested; killing the job');
    this.worker.cancelJob(bullJobId, CANCEL_REASON);
  }

  private async pollCancelKeys(): Promise<void> {
    for (const bullJobId of this.active) {
      if (this.userCancelled.has(bullJobId)) continue;
      try {
        if ((await this.connection.exists(cancelKey(this.worker.toKey, bullJobId))) === 1) this.cancelRunning(bullJobId);
      } catch (err) {
        this.log.warn({ bullJobId, err: errorMessage(err) }, 'could not read the cancel key');
      }
    }
  }

  /** process(), seen by cancel requests: one that came before pickup ends the job before it runs. */
  private async processCancellable(job: CellblockJob, token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> {
    const bullJobId = job.id ?? '';
    const key = cancelKey(this.worker.toKey, bullJobId);
    this.active.add(bullJobId);
    try {
      if ((await this.connection.exists(key)) === 1) {
        this.userCancelled.add(bullJobId);
        const spec = JobSpecSchema.safeParse(job.data);
        const startedAt = job.processedOn ?? this.now();
        const result = cancelledBeforeStart({
          jobId: sandboxJobId(this.queueName, bullJobId, Math.max(1, job.attemptsStarted)),
          image: spec.success ? spec.data.image : '',
          worker: this.workerId,
          tenant: spec.success ? spec.data.tenant : 'default',
          attempt: job.attemptsMade + job.stalledCounter + 1,
          queuedMs: Math.max(0, startedAt - job.timestamp),
        });
        this.log.info({ bullJobId, verdict: result.verdict }, 'job cancelled before it started');
        return result;
      }
      return await this.process(job, token, signal);
    } finally {
      if (this.userCancelled.has(bullJobId)) {
        await this.connection.del(key).catch((err: unknown) => this.log.warn({ bullJobId, err: errorMessage(err) }, 'could not remove the cancel key (it expires)'));
      }
      this.active.delete(bullJobId);
      this.userCancelled.delete(bullJobId);
    }
  }

  private async process(job: CellblockJob, token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> {
    const bullJobId = job.id ?? '';
    const log = this.log.child({ bullJobId });
    let spec: JobSpec;
    try {
      spec = parseJobSpec(job.data);
    } catch (err) {
      if (err instanceof InvalidJobError) {
        log.warn({ verdict: 'INVALID_JOB', err: err.message }, 'job rejected');
        this.metrics?.jobRejected('INVALID_JOB');
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }

    const attempt = job.attemptsMade + job.stalledCounter + 1;
    const jobId = sandboxJobId(this.queueName, bullJobId, Math.max(1, job.attemptsStarted));
    const jobLog = log.child({ jobId, tenant: spec.tenant });
    const slot = this.tenants ? await this.tenants.acquire(spec.tenant, bullJobId) : undefined;
    if (this.tenants && slot === undefined) {
      // The tenant has its share running: back to the queue for a moment, no attempt spent.
      jobLog.debug({ phase: 'tenant-wait' }, 'tenant at its limit; job delayed');
      await job.moveToDelayed(this.now() + TENANT_RETRY_MS + Math.floor(Math.random() * TENANT_RETRY_MS), token);
      throw new DelayedError();
    }
    const startedAt = job.processedOn ?? this.now();
    // Clocks of producer and worker hosts may disagree; a negative wait is no wait.
    const queuedMs = Math.max(0, startedAt - job.timestamp);

    let result: JobResult;
    this.metrics?.sandboxStarted();
    try {
      // Steps or a preset: the judge runs them as several sandboxes, one after another.
      result = isJudgeJob(spec)
        ? await runJudge(this.runner, spec, { jobId, signal, log: jobLog, ...(this.resultsDir ? { resultsDir: this.resultsDir } : {}) })
        : await this.runner.run(spec, { jobId, signal, log: jobLog });
    } catch (err) {
      const code = err instanceof CellblockError ? err.code : undefined;
      const message = code === undefined ? errorMessage(err) : `${code}: ${errorMessage(err)}`;
      jobLog.error({ err: message }, 'runner failed');
      if (code !== undefined && PERMANENT_CODES.has(code)) {
        this.metrics?.jobRejected(code);
        throw new UnrecoverableError(message);
      }
      throw new Error(message, { cause: err });
    } finally {
      this.metrics?.sandboxEnded();
      await slot?.release().catch((err: unknown) => jobLog.warn({ err: errorMessage(err) }, 'could not release the tenant slot (its lease will expire)'));
    }
    if (signal?.aborted === true) {
      const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
      if (this.userCancelled.has(bullJobId)) {
        // Cancelled by its owner: the job is done, and its result (CANCELLED) is its value.
        jobLog.info({ verdict: result.verdict, reason }, 'job cancelled by request');
      } else if (this.shuttingDown && token !== undefined) {
        // Cut short by our shutdown, not by its owner: it runs again elsewhere, from the start.
        jobLog.warn({ reason }, 'job cut short by shutdown; back to the queue');
        await job.moveToWait(token);
        throw new WaitingError();
      } else {
        jobLog.warn({ verdict: result.verdict, reason }, 'job cancelled');
        throw new Error(`job cancelled: ${reason}`);
      }
    }

    const final: JobResult = { ...result, timings: { ...result.timings, queuedMs }, worker: this.workerId, tenant: spec.tenant, attempt };
    this.metrics?.jobDone(final, spec.tenant);
    jobLog.info(
      { verdict: final.verdict, wallMs: final.stats.wallMs, cpuMs: final.stats.cpuMs, setupMs: final.timings.setupMs, queuedMs, attempt, image: final.image.name },
      'job done',
    );
    return final;
  }

  /**
   * Graceful stop: take no new jobs, let the running ones finish for up to `graceMs`,
   * then kill what is left (those jobs go back to the queue to run again) and close.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const closed = this.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), graceMs);
    });
    try {
      if ((await Promise.race([closed.then(() => 'closed' as const), graceOver])) === 'grace-over') {
        this.log.warn({ graceMs }, 'grace period over: killing the running jobs; they go back to the queue');
        this.cancelAll('worker shutting down');
      }
      await closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stop taking jobs, wait for the running ones, then close the runner and the Redis
   * connection. Idempotent; every step runs even when an earlier one fails.
   */
  close(): Promise<void> {
    this.closing ??= this.closeSteps();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async closeSteps(): Promise<void> {
    const failures: Error[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, `close: ${what} failed`);
        failures.push(new Error(`${what}: ${errorMessage(err)}`, { cause: err }));
      }
    };
    await step('bullmq worker', () => this.worker.close());
    clearInterval(this.cancelPoll);
    await step('cancel subscriber', () => this.cancelSubscriber.quit());
    await step('runner', () => this.runner.close());
    await step('redis connection', () => this.connection.quit());
    if (failures.length > 0) throw new AggregateError(failures, `closing worker ${this.workerId}: ${failures.map((f) => f.message).join('; ')}`);
  }
}
