// The queue path: `cellblock worker` processes on a throwaway Redis, running `true`
// in busybox. benchQueue: one worker with concurrency 2, submit-to-result latency
// one job at a time, then sustained throughput of a batch while the worker's RSS
// is sampled. queueThroughput: the sustained rate of any number of workers and
// concurrency (the scale curve). queueAlone: the queue's own cost, with a runner
// that runs nothing. Batch size: BENCH_QUEUE_JOBS (default 2000).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../src/image/store.ts';
import { buildRecipe } from '../src/image/recipes.ts';
import { silentLogger } from '../src/log.ts';
import { CellblockClient } from '../src/queue/client.ts';
import { CellblockWorker } from '../src/queue/worker.ts';
import { FakeRunner } from '../test/helpers/fake-runner.ts';
import { startLocalRedisServer } from '../test/helpers/redis.ts';
import { percentile, sequentialLatencies } from './stats.ts';

export interface RssSample {
  /** Jobs finished since warm-up (latency jobs, then the batch's) when it was taken. */
  jobsDone: number;
  mib: number;
}

export interface QueueNumbers {
  latencyP50: number;
  latencyP99: number;
  jobsPerSecond: number;
  /** Jobs in the sustained batch. */
  batch: number;
  /** Worker RSS after warm-up (before the latency jobs). */
  rssStartMiB: number;
  /** Highest sample, start and end included. */
  rssPeakMiB: number;
  /** After the batch. */
  rssEndMiB: number;
  /** End minus start: what the latency jobs and the batch left behind. */
  rssGrowthMiB: number;
  /** End minus the sample half way through the batch. */
  rssGrowthSecondHalfMiB: number;
  /** After warm-up, after the latency jobs, every RSS_EVERY jobs of the batch, after the batch. */
  rssSamples: RssSample[];
}

/** Worker processes on one queue and the jobs each runs at once. */
export interface WorkerPlan {
  processes: number;
  concurrency: number;
}

/** Where one worker process keeps its state: one worker per state dir, uid ranges and cgroup of its own. */
interface WorkerScope {
  id: string;
  stateDir: string;
  cgroupParent: string;
  uidBase: number;
}

interface Rig {
  client: CellblockClient;
  workers: { scope: WorkerScope; process: ChildProcess }[];
}

const CLI = fileURLToPath(new URL('../bin/cellblock', import.meta.url));
const UID_BASE = 0x55000000;
const UID_RANGES = 32;
const UID_RANGE_SIZE = 65_536;
const RSS_EVERY = 100;
const TRUE_JOB = { image: 'busybox', cmd: ['/bin/true'] };
export const QUEUE_BATCH = Number(process.env.BENCH_QUEUE_JOBS ?? 2000);

/** Worker 0 shares the direct bench's state dir, cgroup and uids (it runs after it); others get their own. */
function workerScope(index: number): WorkerScope {
  const suffix = index === 0 ? '' : `-${index + 1}`;
  return {
    id: `bench-worker-${index + 1}`,
    stateDir: `/var/lib/cellblock-bench${suffix}`,
    cgroupParent: `cellblock-bench${suffix}`,
    uidBase: UID_BASE + index * UID_RANGES * UID_RANGE_SIZE,
  };
}

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

function startWorker(scope: WorkerScope, redisUrl: string, queueName: string, concurrency: number): ChildProcess {
  return spawn(CLI, ['worker', '--concurrency', String(concurrency)], {
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      CELLBLOCK_QUEUE: queueName,
      CELLBLOCK_WORKER_ID: scope.id,
      CELLBLOCK_STATE_DIR: scope.stateDir,
      CELLBLOCK_CGROUP_PARENT: scope.cgroupParent,
      CELLBLOCK_UID_BASE: String(scope.uidBase),
      CELLBLOCK_UID_RANGES: String(UID_RANGES),
      CELLBLOCK_LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** A Redis, the plan's workers (each with the busybox image in its state dir) and a client; all gone after `body`. */
async function withWorkers<T>(plan: WorkerPlan, body: (rig: Rig) => Promise<T>): Promise<T> {
  const scopes = Array.from({ length: plan.processes }, (_, i) => workerScope(i));
  for (const scope of scopes) await buildRecipe('busybox', { store: new ImageStore(path.join(scope.stateDir, 'images'), silentLogger), log: silentLogger });
  const redis = await startLocalRedisServer();
  const queueName = `bench-${process.pid}-${plan.processes}x${plan.concurrency}`;
  const workers = scopes.map((scope) => ({ scope, process: startWorker(scope, redis.url, queueName, plan.concurrency) }));
  const client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
  try {
    return await body({ client, workers });
  } finally {
    await client.bullQueue.obliterate({ force: true }).catch(() => {});
    await client.close();
    await Promise.all(workers.map((w) => stopWorker(w.process)));
    await redis.stop();
  }
}

/**
 * Runs rounds of trivial jobs until every worker has finished one and at least
 * `minJobs` ran: the workers are up, their launcher pools full, Node's JIT warm.
 */
async function warmUp(rig: Rig, plan: WorkerPlan, minJobs = 10): Promise<void> {
  const waiting = new Set(rig.workers.map((w) => w.scope.id));
  const perRound = plan.processes * plan.concurrency * 2;
  const giveUpAt = Date.now() + 120_000;
  for (let ran = 0; waiting.size > 0 || ran < minJobs; ran += perRound) {
    if (Date.now() > giveUpAt) throw new Error(`bench: worker(s) ${[...waiting].join(', ')} took no job in 2 minutes of warm-up`);
    for (const w of rig.workers) {
      if (w.process.exitCode !== null || w.process.signalCode !== null) throw new Error(`bench: worker ${w.scope.id} exited (${w.process.exitCode ?? w.process.signalCode})`);
    }
    const ids = await rig.client.submitMany(Array.from({ length: perRound }, () => TRUE_JOB));
    for (const r of await Promise.all(ids.map((id) => rig.client.result(id, 60_000)))) if (r.worker !== undefined) waiting.delete(r.worker);
  }
}

/** Submit-to-result ms of `n` jobs, one at a time, sorted. */
async function latencies(client: CellblockClient, n: number): Promise<number[]> {
  const lat = await sequentialLatencies(() => client.run(TRUE_JOB, 60_000), n);
  return lat.sort((a, b) => a - b);
}

/** Jobs/s of `jobs` submitted at once, submission to last result; `onDone(k)` after the k-th result is in. */
async function sustainedBatch(client: CellblockClient, jobs: number, onDone: (done: number) => void = () => {}): Promise<number> {
  const t0 = performance.now();
  const ids = await client.submitMany(Array.from({ length: jobs }, () => TRUE_JOB));
  let done = 0;
  let notOk = 0;
  let firstFailure = '';
  await Promise.all(
    ids.map(async (id) => {
      const r = await client.result(id, 600_000);
      if (r.verdict !== 'OK' && notOk++ === 0) firstFailure = `${r.verdict}: ${r.message ?? ''}`;
      onDone(++done);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (notOk > 0) throw new Error(`bench: ${notOk} of ${jobs} batch jobs did not end OK (first: ${firstFailure})`);
  return jobs / seconds;
}

/** RSS samples of one process, by jobs finished since warm-up. */
class RssRecorder {
  readonly samples: RssSample[] = [];

  constructor(private readonly pid: number) {}

  sample(jobsDone: number): void {
    this.samples.push({ jobsDone, mib: rssMiB(this.pid) });
  }

  /** The first sample taken at or after `jobsDone` jobs. */
  at(jobsDone: number): number {
    return (this.samples.find((s) => s.jobsDone >= jobsDone) ?? this.samples[this.samples.length - 1]!).mib;
  }

  peak(): number {
    return Math.max(...this.samples.map((s) => s.mib));
  }
}

/** One worker, concurrency 2: latency, sustained throughput and the worker's memory over the batch. */
export async function benchQueue(latencyJobs = 200, batch = QUEUE_BATCH): Promise<QueueNumbers> {
  const plan = { processes: 1, concurrency: 2 };
  return withWorkers(plan, async (rig) => {
    await warmUp(rig, plan);
    const rss = new RssRecorder(rig.workers[0]!.process.pid!);
    rss.sample(0);
    const lat = await latencies(rig.client, latencyJobs);
    rss.sample(latencyJobs);
    const jobsPerSecond = await sustainedBatch(rig.client, batch, (done) => {
      if (done % RSS_EVERY === 0 && done < batch) rss.sample(latencyJobs + done);
    });
    const end = latencyJobs + batch;
    rss.sample(end);
    return {
      latencyP50: percentile(lat, 50),
      latencyP99: percentile(lat, 99),
      jobsPerSecond,
      batch,
      rssStartMiB: rss.at(0),
      rssPeakMiB: rss.peak(),
      rssEndMiB: rss.at(end),
      rssGrowthMiB: rss.at(end) - rss.at(0),
      rssGrowthSecondHalfMiB: rss.at(end) - rss.at(latencyJobs + batch / 2),
      rssSamples: rss.samples,
    };
  });
}

/** Sustained jobs/s of a batch through `plan.processes` workers of `plan.concurrency` each. */
export async function queueThroughput(plan: WorkerPlan, batch = QUEUE_BATCH): Promise<number> {
  return withWorkers(plan, async (rig) => {
    await warmUp(rig, plan);
    return sustainedBatch(rig.client, batch);
  });
}

/**
 * The queue's own cost: the same client and a worker (in this process) whose runner
 * runs nothing. Latency one job at a time and a sustained batch, at concurrency 2.
 */
export async function queueAlone(latencyJobs = 200, batch = QUEUE_BATCH): Promise<{ latencyP50: number; latencyP99: number; jobsPerSecond: number }> {
  const redis = await startLocalRedisServer();
  const queueName = `bench-alone-${process.pid}`;
  const worker = await CellblockWorker.start({ redis: redis.url, queueName, runner: new FakeRunner(), workerId: 'bench-noop', concurrency: 2 });
  const client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
  try {
    for (let i = 0; i < 20; i++) await client.run(TRUE_JOB, 60_000);
    const lat = await latencies(client, latencyJobs);
    const jobsPerSecond = await sustainedBatch(client, batch);
    return { latencyP50: percentile(lat, 50), latencyP99: percentile(lat, 99), jobsPerSecond };
  } finally {
    await client.close();
    await worker.close();
    await redis.stop();
  }
}
