// The queue side of a worker process: takes jobs from BullMQ, validates them at the
// edge, runs each through the Runner and returns the JobResult as the job's value.
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { parseJobSpec, InvalidJobError, type JobSpec } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import type { Runner } from '../sandbox/runner-api.ts';
import { silentLogger, type Logger } from '../log.ts';
import { CellblockError, errorMessage } from '../errors.ts';
import { createRedisConnection } from './connection.ts';
import { sandboxJobId } from './job-id.ts';

export interface CellblockWorkerOptions {
  redisUrl: string;
  queueName: string;
  /** Owned from here on: close() closes it. */
  runner: Runner;
  workerId: string;
  /** Jobs run at once by this worker. */
  concurrency: number;
  log?: Logger;
  /** Injected for tests; Date.now by default. */
  now?: () => number;
  /** Tuning passed through to BullMQ (lockDuration, stalledInterval, drainDelay, ...). */
  bullmq?: Omit<Partial<WorkerOptions>, 'connection' | 'concurrency' | 'name' | 'autorun'>;
}

type CellblockJob = Job<unknown, JobResult>;

/** Runner failures that no retry can fix: the job fails at once, with the reason. */
const PERMANENT_CODES = new Set<string>(['INVALID_JOB', 'IMAGE_NOT_FOUND', 'IMAGE_INVALID']);

export class CellblockWorker implements AsyncDisposable {
  readonly workerId: string;
  readonly queueName: string;
  private readonly runner: Runner;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly connection: Redis;
  private readonly worker: Worker<unknown, JobResult>;
  private closing: Promise<void> | undefined;

  /** Reconcile what a crashed worker left, then start taking jobs. */
  static async start(opts: CellblockWorkerOptions): Promise<CellblockWorker> {
    const log = opts.log ?? silentLogger;
    const report = await opts.runner.reconcile();
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
    this.log = (opts.log ?? silentLogger).child({ queue: opts.queueName, worker: opts.workerId });
    this.now = opts.now ?? Date.now;
    this.connection = createRedisConnection(opts.redisUrl, `cellblock-worker:${opts.workerId}`);
    // The processor declares three parameters: BullMQ hands an AbortSignal only to
    // processors whose length is 3 or more.
    const processor = (job: CellblockJob, token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> =>
      this.process(job, token, signal);
    this.worker = new Worker<unknown, JobResult>(opts.queueName, processor, {
      ...opts.bullmq,
      connection: this.connection,
      concurrency: opts.concurrency,
      name: opts.workerId,
      autorun: true,
    });
    // An 'error' event without a listener would crash the process; Redis blips are
    // retried by ioredis and BullMQ, so they are only logged.
    this.worker.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'worker error'));
    this.worker.on('stalled', (jobId) => this.log.warn({ bullJobId: jobId }, 'job stalled; BullMQ moved it back to wait'));
  }

  waitUntilReady(): Promise<void> {
    return this.worker.waitUntilReady();
  }

  isRunning(): boolean {
    return this.worker.isRunning();
  }

  /** Abort every running job (their sandboxes are killed); they fail with `reason`. */
  cancelAll(reason: string): void {
    this.worker.cancelAllJobs(reason);
  }

  private async process(job: CellblockJob, _token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> {
    const bullJobId = job.id ?? '';
    const log = this.log.child({ bullJobId });
    let spec: JobSpec;
    try {
      spec = parseJobSpec(job.data);
    } catch (err) {
      if (err instanceof InvalidJobError) {
        log.warn({ verdict: 'INVALID_JOB', err: err.message }, 'job rejected');
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }

    const attempt = Math.max(1, job.attemptsStarted);
    const jobId = sandboxJobId(this.queueName, bullJobId, attempt);
    const jobLog = log.child({ jobId });
    const startedAt = job.processedOn ?? this.now();
    // Clocks of producer and worker hosts may disagree; a negative wait is no wait.
    const queuedMs = Math.max(0, startedAt - job.timestamp);

    let result: JobResult;
    try {
      result = await this.runner.run(spec, { jobId, signal, log: jobLog });
    } catch (err) {
      const code = err instanceof CellblockError ? err.code : undefined;
      const message = code === undefined ? errorMessage(err) : `${code}: ${errorMessage(err)}`;
      jobLog.error({ err: message }, 'runner failed');
      if (code !== undefined && PERMANENT_CODES.has(code)) throw new UnrecoverableError(message);
      throw new Error(message, { cause: err });
    }
    if (signal?.aborted === true) {
      const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
      jobLog.warn({ verdict: result.verdict, reason }, 'job cancelled');
      throw new Error(`job cancelled: ${reason}`);
    }

    const final: JobResult = { ...result, timings: { ...result.timings, queuedMs }, worker: this.workerId };
    jobLog.info(
      { verdict: final.verdict, wallMs: final.stats.wallMs, cpuMs: final.stats.cpuMs, queuedMs, image: final.image.name },
      'job done',
    );
    return final;
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
    await step('runner', () => this.runner.close());
    await step('redis connection', () => this.connection.quit());
    if (failures.length > 0) throw new AggregateError(failures, `closing worker ${this.workerId}: ${failures.map((f) => f.message).join('; ')}`);
  }
}
