// The demo's batch through a real queue: every demo file is a valid job, the batch is
// enqueued at once, and each result comes back to the job it belongs to. The runner is
// a fake that behaves like a perfect sandbox; the real one runs `cellblock demo`.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CellblockClient } from '../../../src/queue/client.ts';
import { CellblockWorker } from '../../../src/queue/worker.ts';
import { loadDemoJobs, mismatches, type DemoJob } from '../../../src/cli/demo-jobs.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { FakeRunner, cannedResult } from '../../helpers/fake-runner.ts';

const JOBS_DIR = fileURLToPath(new URL('../../../demo/jobs/', import.meta.url));

describe('demo batch through the queue', () => {
  let redis: TestRedis;
  let admin: Redis;
  let queueName: string | undefined;
  let jobs: DemoJob[];

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: null });
    // Single-command jobs only: a judge submission (steps, cases) runs several
    // sandboxes per job, which this fake cannot stand in for; the real-sandbox
    // test runs the whole batch, judge job included.
    jobs = (await loadDemoJobs(JOBS_DIR)).filter((j) => j.spec.preset === undefined && j.spec.steps === undefined);
  });

  after(async () => {
    await admin.quit();
    await redis.stop();
  });

  afterEach(async () => {
    if (queueName === undefined) return;
    const queue = new Queue(queueName, { connection: admin });
    await queue.obliterate({ force: true });
    await queue.close();
    assert.deepEqual(await admin.keys(`bull:${queueName}:*`), []);
    queueName = undefined;
  });

  it('has the jobs the demo promises, each a valid spec on the toolchain image', () => {
    const verdicts = jobs.map((j) => j.expectation.expect).sort();
    for (const v of ['OK', 'TIME_LIMIT', 'WALL_TIME_LIMIT', 'MEMORY_LIMIT', 'OUTPUT_LIMIT', 'RUNTIME_ERROR']) {
      assert.ok(verdicts.includes(v as never), `no demo job expects ${v}`);
    }
    assert.ok(jobs.every((j) => j.spec.image === 'toolchain'));
    assert.ok(jobs.some((j) => j.expectation.expectSignal === 'SIGSEGV'));
  });

  async function runBatch(runner: FakeRunner): Promise<string[][]> {
    assert.ok(queueName !== undefined);
    const worker = await CellblockWorker.start({ redis: redis.url, queueName, runner, workerId: 'demo-test', concurrency: 4 });
    const client = new CellblockClient({ redis: redis.url, queueName });
    try {
      const ids = await client.submitMany(jobs.map((j) => j.spec));
      const results = await Promise.all(ids.map((id) => client.result(id, 10_000)));
      return results.map((r, i) => {
        const job = jobs[i];
        assert.ok(job !== undefined);
        return mismatches(job.expectation, r);
      });
    } finally {
      await client.close();
      await worker.close();
    }
  }

  it('brings every result back to its own job', async () => {
    queueName = uniqueQueueName('demo');
    const byCmd = new Map(jobs.map((j) => [JSON.stringify(j.spec.cmd), j.expectation]));
    // A perfect sandbox: does what each file expects, in a random order of completion.
    const runner = new FakeRunner(async (spec, opts) => {
      await new Promise((r) => setTimeout(r, Math.random() * 30));
      const e = byCmd.get(JSON.stringify(spec.cmd));
      assert.ok(e !== undefined);
      return cannedResult(opts.jobId, {
        verdict: e.expect,
        signal: e.expectSignal ?? null,
        exitCode: e.expectSignal !== undefined ? null : (e.expectExitCode ?? 0),
        stdout: e.expectStdout !== undefined ? `${e.expectStdout}\n` : '',
      });
    });
    const wrong = await runBatch(runner);
    assert.deepEqual(wrong, jobs.map(() => []));
  });

  it('reports every job whose result differs from its expectation', async () => {
    queueName = uniqueQueueName('demo-wrong');
    const wrong = await runBatch(new FakeRunner((_spec, opts) => cannedResult(opts.jobId, { stdout: '' })));
    const flagged = jobs.filter((_, i) => (wrong[i] ?? []).length > 0).map((j) => j.name);
    // Every job expects something a bare "OK, no output" result does not give.
    assert.deepEqual(flagged, jobs.map((j) => j.name));
  });
});
