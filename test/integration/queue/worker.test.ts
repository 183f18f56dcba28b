// Queue round trips against a real Redis, with a fake Runner behind the worker.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CellblockClient } from '../../../src/queue/client.ts';
import { CellblockWorker, type CellblockWorkerOptions } from '../../../src/queue/worker.ts';
import { QueueError } from '../../../src/queue/errors.ts';
import { JOB_NAME } from '../../../src/queue/job-options.ts';
import { InvalidJobError } from '../../../src/job/spec.ts';
import { CellblockError } from '../../../src/errors.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { FakeRunner, untilAborted } from '../../helpers/fake-runner.ts';

describe('queue: worker + client', () => {
  let redis: TestRedis;
  let admin: Redis;
  let queueName: string;
  const open: { close(): Promise<void> }[] = [];
  const clients: CellblockClient[] = [];

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  });

  after(async () => {
    await admin.quit();
    await redis.stop();
  });

  afterEach(async () => {
    // Workers first (they may still write), then wipe the queue, then the producers.
    for (const w of open.splice(0)) await w.close();
    for (const c of clients.splice(0)) await c.close();
    const queue = new Queue(queueName, { connection: admin });
    await queue.obliterate({ force: true });
    await queue.close();
    const left = await admin.keys(`bull:${queueName}:*`);
    assert.deepEqual(left, [], 'queue data left in Redis after the test');
  });

  function client(): CellblockClient {
    const c = new CellblockClient({ redis: redis.url, queueName });
    clients.push(c);
    return c;
  }

  async function worker(runner: FakeRunner, over: Partial<CellblockWorkerOptions> = {}): Promise<CellblockWorker> {
    const w = await CellblockWorker.start({ redis: redis.url, queueName, runner, workerId: 'test-worker', concurrency: 2, ...over });
    open.push(w);
    return w;
  }

  it('submit → result round trip returns the runner result with worker id and queuedMs', async () => {
    queueName = uniqueQueueName('roundtrip');
    const runner = new FakeRunner();
    await worker(runner);
    const c = client();

    const result = await c.run({ image: 'busybox', cmd: ['echo', 'hello'] }, 10_000);

    assert.equal(result.verdict, 'OK');
    assert.equal(result.stdout, 'hello\n');
    assert.equal(result.worker, 'test-worker');
    assert.equal(typeof result.timings.queuedMs, 'number');
    assert.ok((result.timings.queuedMs ?? -1) >= 0);
    assert.equal(runner.calls.length, 1);
    const call = runner.calls[0];
    assert.ok(call !== undefined);
    assert.deepEqual(call.spec.cmd, ['echo', 'hello']);
    assert.equal(call.spec.limits.wallMs, 10_000, 'the worker hands the runner a parsed spec with defaults');
    assert.match(call.jobId, /^[A-Za-z0-9_-]{1,64}$/);
    assert.ok(call.jobId.startsWith(`${queueName}-`), call.jobId);
    assert.equal(runner.reconcileCount, 1, 'start() reconciles before taking jobs');
  });

  it('an invalid spec fails with the readable message, is not retried, and the worker goes on', async () => {
    queueName = uniqueQueueName('invalid');
    const runner = new FakeRunner();
    await worker(runner);
    const c = client();

    // Bypass the client's own validation: a producer in another language could send this.
    const bad = await c.bullQueue.add(JOB_NAME, { cmd: [], imagee: 'x' } as never, { attempts: 3 });
    assert.ok(bad.id !== undefined);
    await assert.rejects(c.result(bad.id, 10_000), (err: unknown) => {
      assert.ok(err instanceof QueueError);
      assert.equal(err.code, 'JOB_FAILED');
      assert.match(err.message, /invalid job spec: /);
      assert.match(err.message, /cmd/);
      assert.match(err.message, /imagee/);
      return true;
    });
    const failed = await c.bullQueue.getJob(bad.id);
    assert.equal(failed?.attemptsMade, 1, 'UnrecoverableError: no retries despite attempts: 3');

    const good = await c.run({ cmd: ['true'] }, 10_000);
    assert.equal(good.verdict, 'OK');
    assert.equal(runner.calls.length, 1, 'the runner never saw the invalid job');
  });

  it('the client rejects an invalid spec before enqueueing it', async () => {
    queueName = uniqueQueueName('client-invalid');
    const c = client();
    await assert.rejects(c.submit({ cmd: ['ls'], limits: { wallMs: -1 } }), (err: unknown) => {
      assert.ok(err instanceof InvalidJobError);
      assert.match(err.message, /limits\.wallMs/);
      return true;
    });
    const counts = await c.bullQueue.getJobCounts('wait', 'active', 'completed', 'failed', 'delayed');
    assert.deepEqual(Object.values(counts).reduce((a, b) => a + b, 0), 0);
  });

  it('queuedMs counts the time a job waited for a worker', async () => {
    queueName = uniqueQueueName('queued');
    const c = client();
    const id = await c.submit({ cmd: ['true'] });
    await sleep(300);
    await worker(new FakeRunner());
    const result = await c.result(id, 10_000);
    assert.ok((result.timings.queuedMs ?? 0) >= 250, `queuedMs ${result.timings.queuedMs}`);
  });

  it('a batch submitted at once all completes, each under its own sandbox id', async () => {
    queueName = uniqueQueueName('batch');
    const runner = new FakeRunner(async (_spec, opts) => {
      await sleep(20);
      return (await import('../../helpers/fake-runner.ts')).cannedResult(opts.jobId);
    });
    await worker(runner, { concurrency: 3 });
    const c = client();
    const ids = await c.submitMany(Array.from({ length: 8 }, (_, i) => ({ cmd: ['echo', String(i)] })));
    const results = await Promise.all(ids.map((id) => c.result(id, 10_000)));
    assert.equal(results.length, 8);
    assert.ok(results.every((r) => r.verdict === 'OK'));
    assert.equal(new Set(runner.calls.map((x) => x.jobId)).size, 8);
  });

  it('a permanent runner error (image not found) fails the job once, with its code', async () => {
    queueName = uniqueQueueName('noimage');
    const runner = new FakeRunner(() => {
      throw new CellblockError('IMAGE_NOT_FOUND', 'image "nope" is not in the store; run: cellblock image build nope');
    });
    await worker(runner);
    const c = client();
    const id = await c.submit({ image: 'nope', cmd: ['true'] }, { attempts: 3 });
    await assert.rejects(c.result(id, 10_000), /IMAGE_NOT_FOUND: image "nope" is not in the store/);
    assert.equal(runner.calls.length, 1);
  });

  it('result(): unknown id is JOB_NOT_FOUND; no worker is WAIT_TIMEOUT', async () => {
    queueName = uniqueQueueName('waits');
    const c = client();
    await assert.rejects(c.result('no-such-job', 1000), (err: unknown) => err instanceof QueueError && err.code === 'JOB_NOT_FOUND');
    const id = await c.submit({ cmd: ['true'] });
    await assert.rejects(c.result(id, 300), (err: unknown) => err instanceof QueueError && err.code === 'WAIT_TIMEOUT');
  });

  it('cancelAll() aborts running jobs, which fail as cancelled', async () => {
    queueName = uniqueQueueName('cancel');
    const runner = new FakeRunner(untilAborted);
    const w = await worker(runner);
    const c = client();
    const id = await c.submit({ cmd: ['sleep', '100'] });
    while (runner.calls.length === 0) await sleep(10);
    w.cancelAll('worker shutting down');
    await assert.rejects(c.result(id, 10_000), /job cancelled: worker shutting down/);
  });

  it('close() is idempotent and closes the runner once', async () => {
    queueName = uniqueQueueName('close');
    const runner = new FakeRunner();
    const w = await worker(runner);
    await Promise.all([w.close(), w.close()]);
    await w.close();
    assert.equal(runner.closeCount, 1);
    assert.equal(w.isRunning(), false);
  });
});
