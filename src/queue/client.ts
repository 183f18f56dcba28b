// A small typed producer: validates specs with the worker's own schema (so a typo fails
// here, not in a worker), enqueues them, and waits for results through QueueEvents.
import { Job, Queue, QueueEvents, type JobState, type JobsOptions } from 'bullmq';
import { parseJobSpec, type JobSpec, type JobSpecInput } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import { silentLogger, type Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { createRedisConnection, type RedisConnection, type RedisTarget } from './connection.ts';
import { DEFAULT_JOB_OPTIONS, JOB_NAME } from './job-options.ts';
import { QueueError } from './errors.ts';
import { CANCEL_TTL_S, cancelChannel, cancelKey } from './cancel.ts';

export interface CellblockClientOptions {
  /** A redis:// URL, or a Sentinel/Cluster target with the queue's key prefix. */
  redis: RedisTarget | string;
  queueName: string;
  log?: Logger;
  /** Merged over DEFAULT_JOB_OPTIONS for every job this client adds. */
  defaultJobOptions?: JobsOptions;
}

export interface SubmitOptions {
  /** A custom BullMQ job id (not an integer, no ':'): adding the same id twice adds one job. */
  jobId?: string;
  /** 1 (highest) .. 2^21; jobs without one go first. */
  priority?: number;
  delayMs?: number;
  attempts?: number;
}

/** What cancel() did: removed a job that had not started, asked its worker to kill it, or nothing (it had finished). */
export type CancelOutcome = 'removed' | 'cancelling' | 'finished';

/** A job as stored: its BullMQ state, and its result or failure reason once it has one. */
export interface JobInfo {
  id: string;
  state: JobState | 'unknown';
  /** ms since the epoch */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  result?: JobResult;
  failedReason?: string;
}

export class CellblockClient implements AsyncDisposable {
  readonly queueName: string;
  private readonly log: Logger;
  private readonly connection: RedisConnection;
  private readonly prefix: string | undefined;
  private readonly queue: Queue<JobSpecInput, JobResult>;
  private events: QueueEvents | undefined;
  private closing: Promise<void> | undefined;

  constructor(opts: CellblockClientOptions) {
    this.queueName = opts.queueName;
    this.log = (opts.log ?? silentLogger).child({ queue: opts.queueName });
    this.connection = createRedisConnection(opts.redis, 'cellblock-client');
    this.prefix = typeof opts.redis === 'string' ? undefined : opts.redis.prefix;
    this.queue = new Queue<JobSpecInput, JobResult>(opts.queueName, {
      connection: this.connection,
      ...(this.prefix !== undefined ? { prefix: this.prefix } : {}),
      defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...opts.defaultJobOptions },
    });
    this.queue.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'queue error'));
  }

  /** Validate and enqueue one job; returns its BullMQ id. Throws InvalidJobError before enqueueing. */
  async submit(spec: JobSpecInput, opts: SubmitOptions = {}): Promise<string> {
    // Validated here, enqueued as given: the worker parses it again, and parsed specs
    // may hold values JSON cannot carry (an OCI seccomp profile's BigInt arguments).
    parseJobSpec(spec);
    const job = await this.queue.add(JOB_NAME, spec, toJobsOptions(opts));
    return jobIdOf(job);
  }

  /** Validate every spec first (none is enqueued if one is bad), then enqueue them in one round trip. */
  async submitMany(specs: readonly JobSpecInput[], opts: SubmitOptions = {}): Promise<string[]> {
    specs.forEach((s, i) => {
      try {
        parseJobSpec(s);
      } catch (err) {
        if (err instanceof Error) err.message = `job ${i}: ${err.message}`;
        throw err;
      }
    });
    const jobOpts = toJobsOptions({ ...opts, jobId: undefined });
    const jobs = await this.queue.addBulk(specs.map((data) => ({ name: JOB_NAME, data, opts: jobOpts })));
    return jobs.map(jobIdOf);
  }

  /**
   * Wait up to timeoutMs for a job's result. Throws QueueError: JOB_FAILED (with the
   * worker's reason, e.g. an invalid spec), JOB_NOT_FOUND, or WAIT_TIMEOUT.
   */
  async result(id: string, timeoutMs: number): Promise<JobResult> {
    // Events are read only from when the listener is ready: a job that finishes
    // before then would be seen only at the timeout.
    const events = this.queueEvents();
    await events.waitUntilReady();
    const job = await Job.fromId<JobSpecInput, JobResult>(this.queue, id);
    if (job === undefined) {
      throw new QueueError('JOB_NOT_FOUND', id, `job ${id} is not in queue ${this.queueName} (never added, or removed after it finished)`);
    }
    try {
      return await job.waitUntilFinished(events, timeoutMs);
    } catch (err) {
      // waitUntilFinished rejects alike for a failed job and for a timeout; the job's
      // state tells them apart.
      const state = await this.queue.getJobState(id).catch(() => 'unknown');
      if (state === 'failed') {
        throw new QueueError('JOB_FAILED', id, `job ${id} failed: ${errorMessage(err)}`, { cause: err });
      }
      if (state === 'unknown') {
        throw new QueueError('JOB_NOT_FOUND', id, `job ${id} was removed from queue ${this.queueName} before its result was read`, { cause: err });
      }
      if (state === 'completed') {
        const done = await Job.fromId<JobSpecInput, JobResult>(this.queue, id);
        if (done !== undefined) return done.returnvalue;
      }
      throw new QueueError('WAIT_TIMEOUT', id, `job ${id} did not finish within ${timeoutMs} ms (state: ${state}); is a worker running on queue ${this.queueName}?`, {
        cause: err,
      });
    }
  }

  /** The job's state (and result or failure), or undefined when there is no such job. */
  async inspect(id: string): Promise<JobInfo | undefined> {
    // State first, then the job's data: read the other way round, a job finishing in
    // between would show as completed with the result it did not have yet.
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') return undefined;
    const job = await Job.fromId<JobSpecInput, JobResult>(this.queue, id);
    if (job === undefined) return undefined;
    const info: JobInfo = { id, state, createdAt: job.timestamp };
    if (job.processedOn !== undefined) info.startedAt = job.processedOn;
    if (job.finishedOn !== undefined) info.finishedAt = job.finishedOn;
    if (state === 'completed') info.result = job.returnvalue;
    if (state === 'failed') info.failedReason = job.failedReason;
    return info;
  }

  /**
   * Cancel a job: one not yet started is removed from the queue; a running one is
   * killed by the worker that runs it (within about a second, wherever it is) and
   * completes with verdict CANCELLED. Throws QueueError JOB_NOT_FOUND.
   */
  async cancel(id: string): Promise<CancelOutcome> {
    const state = await this.queue.getJobState(id);
    if (state === 'unknown') throw new QueueError('JOB_NOT_FOUND', id, `job ${id} is not in queue ${this.queueName}`);
    if (state === 'completed' || state === 'failed') return 'finished';
    const key = cancelKey(this.queue.toKey, id);
    // The key first: a worker picking the job up from now on sees it before running anything.
    await this.connection.set(key, '1', 'EX', CANCEL_TTL_S);
    if (state !== 'active') {
      // 0 when the job is locked: a worker took it since; then it is cancelled as a running job.
      if ((await this.queue.remove(id)) === 1) {
        await this.connection.del(key);
        this.log.info({ bullJobId: id, state }, 'job removed from the queue before it ran');
        return 'removed';
      }
    }
    await this.connection.publish(cancelChannel(this.queue.toKey), id);
    this.log.info({ bullJobId: id }, 'cancel requested from the running job\'s worker');
    return 'cancelling';
  }

  /** submit + result. */
  async run(spec: JobSpecInput, timeoutMs: number, opts: SubmitOptions = {}): Promise<JobResult> {
    // Listening before adding makes sure the completion event cannot be missed.
    await this.queueEvents().waitUntilReady();
    const id = await this.submit(spec, opts);
    return this.result(id, timeoutMs);
  }

  /** One PING through the client's connection (health checks: race it with a timeout, it waits for a reconnect). */
  async ping(): Promise<void> {
    await this.connection.ping();
  }

  /** The underlying queue, for admin work (counts, obliterate in tests). */
  get bullQueue(): Queue<JobSpecInput, JobResult> {
    return this.queue;
  }

  close(): Promise<void> {
    this.closing ??= this.closeSteps();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private queueEvents(): QueueEvents {
    if (this.events === undefined) {
      const events = new QueueEvents(this.queueName, { connection: this.connection, ...(this.prefix !== undefined ? { prefix: this.prefix } : {}) });
      events.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'queue events error'));
      // Every waiting result() adds a listener pair; a batch of hundreds is normal.
      events.setMaxListeners(0);
      this.queue.setMaxListeners(0);
      this.events = events;
    }
    return this.events;
  }

  private async closeSteps(): Promise<void> {
    const failures: Error[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failures.push(new Error(`${what}: ${errorMessage(err)}`, { cause: err }));
      }
    };
    const events = this.events;
    if (events !== undefined) await step('queue events', () => events.close());
    await step('queue', () => this.queue.close());
    await step('redis connection', () => this.connection.quit());
    if (failures.length > 0) throw new AggregateError(failures, `closing client: ${failures.map((f) => f.message).join('; ')}`);
  }
}

function toJobsOptions(opts: SubmitOptions): JobsOptions {
  const out: JobsOptions = {};
  if (opts.jobId !== undefined) out.jobId = opts.jobId;
  if (opts.priority !== undefined) out.priority = opts.priority;
  if (opts.delayMs !== undefined) out.delay = opts.delayMs;
  if (opts.attempts !== undefined) out.attempts = opts.attempts;
  return out;
}

function jobIdOf(job: { id?: string }): string {
  if (job.id === undefined) throw new Error('BullMQ returned a job without an id');
  return job.id;
}
