// Operating a fleet: graceful stop, a worker SIGKILLed mid-job, Redis restarted
// mid-batch, two workers on one host, per-tenant limits and metrics over HTTP.
// Real worker processes, real Redis, real sandboxes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { after, afterEach, before, describe, test } from 'node:test';
import type { JobSpecInput } from '../../../src/job/spec.ts';
import { silentLogger } from '../../../src/log.ts';
import { WorkerMetrics } from '../../../src/metrics/registry.ts';
import { MetricsServer } from '../../../src/metrics/server.ts';
import { CellblockClient } from '../../../src/queue/client.ts';
import { TenantSlots } from '../../../src/queue/tenant-slots.ts';
import { CellblockWorker, type CellblockWorkerOptions } from '../../../src/queue/worker.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { startLocalRedisServer, type LocalRedis } from '../../helpers/redis.ts';
import { SCOPE, TEST_IMAGE, TEST_STATE_DIR, prepareTestImage, testRunner, scopeEnv } from '../../helpers/sandbox.ts';

const CLI = fileURLToPath(new URL('../../../bin/cellblock', import.meta.url));

let redis: LocalRedis;
let admin: Redis;
let queueName: string;
const workers: CellblockWorker[] = [];
const children: ChildProcess[] = [];
let client: CellblockClient;

before(async () => {
  await prepareTestImage();
  redis = await startLocalRedisServer({ persistent: true });
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on('error', () => {}); // down on purpose during the restart test
});
after(async () => {
  await admin.quit();
  await redis.stop();
});

function newQueue(): void {
  queueName = uniqueQueueName('ops');
  client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
}

async function inProcessWorker(extra: Partial<CellblockWorkerOptions> = {}): Promise<CellblockWorker> {
  const w = await CellblockWorker.start({ redis: redis.url, queueName, runner: await testRunner(), workerId: `w${workers.length}`, concurrency: 2, log: silentLogger, ...extra });
  workers.push(w);
  return w;
}

/** `cellblock worker` as its own process, on this test's queue and sandbox scope. */
function cliWorker(env: Record<string, string> = {}): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(CLI, ['worker', '--concurrency', '1'], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      CELLBLOCK_QUEUE: queueName,
      ...scopeEnv(),
      CELLBLOCK_WORKER_ID: 'cli-worker',
      ...env,
    },
    stdio: 'ignore',
  });
  children.push(child);
  return { child, exit: new Promise((r) => child.on('exit', (code) => r(code))) };
}

async function activeCount(): Promise<number> {
  const q = new Queue(queueName, { connection: admin });
  try {
    return await q.getActiveCount();
  } finally {
    await q.close();
  }
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const job = (cmd: string[], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({ image: TEST_IMAGE, cmd, ...extra });

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await client.close();
  for (const w of workers.splice(0)) await w.close();
  // A worker's next start reconciles: this one cleans whatever a killed one left.
  const janitor = await testRunner();
  await janitor.reconcile();
  await janitor.close();
  const q = new Queue(queueName, { connection: admin });
  await q.obliterate({ force: true });
  await q.close();
  await assertNoLeaks(SCOPE);
});

describe('operations', () => {
  test('SIGTERM lets a running job finish, then the worker exits 0', async () => {
    newQueue();
    const w = cliWorker();
    const id = await client.submit(job(['sh', '-c', 'sleep 1.5; echo finished']));
    await until('the job to start', async () => (await activeCount()) === 1);
    w.child.kill('SIGTERM');
    const r = await client.result(id, 30_000);
    assert.equal(r.verdict, 'OK');
    assert.equal(r.stdout, 'finished\n');
    assert.equal(await w.exit, 0);
  });

  test('past the grace period the job is killed and goes back to the queue, where another worker runs it', async () => {
    newQueue();
    const w = cliWorker({ CELLBLOCK_SHUTDOWN_GRACE_MS: '300' });
    const id = await client.submit(job(['sh', '-c', 'sleep 2; echo done']));
    await until('the job to start', async () => (await activeCount()) === 1);
    w.child.kill('SIGTERM');
    assert.equal(await w.exit, 0);
    await inProcessWorker();
    const r = await client.result(id, 30_000);
    assert.equal(r.verdict, 'OK');
    assert.equal(r.worker, 'w0', 'finished by the second worker');
    assert.equal(r.attempt, 1, 'a shutdown re-queue is not a failed attempt');
  });

  test('a worker SIGKILLed mid-job: the job comes back and runs again elsewhere (attempt 2); nothing leaks', async () => {
    newQueue();
    const w = cliWorker({ CELLBLOCK_LOCK_MS: '1000' });
    const id = await client.submit(job(['sh', '-c', 'sleep 2; echo survived']));
    await until('the job to start', async () => (await activeCount()) === 1);
    await new Promise((r) => setTimeout(r, 300));
    w.child.kill('SIGKILL');
    await w.exit;
    await inProcessWorker({ lockMs: 1000 });
    const r = await client.result(id, 60_000);
    assert.equal(r.verdict, 'OK');
    assert.equal(r.stdout, 'survived\n');
    assert.equal(r.attempt, 2);
    assert.equal(r.worker, 'w0');
  });

  test('Redis restarted during a batch: every job finishes exactly once', async () => {
    newQueue();
    const metrics = new WorkerMetrics({ worker: 'w0', queue: queueName });
    await inProcessWorker({ metrics });
    const n = 40;
    const ids = await client.submitMany(Array.from({ length: n }, (_, i) => job(['sh', '-c', `sleep 0.05; echo ${i}`])));
    const results = Promise.all(ids.map((id) => client.result(id, 120_000)));
    await until('some jobs to finish', async () => (await admin.zcard(`bull:${queueName}:completed`)) >= 5);
    await redis.restart(1000);
    const done = await results;
    done.forEach((r, i) => {
      assert.equal(r.verdict, 'OK', r.message);
      assert.equal(r.stdout, `${i}\n`);
    });
    const text = await metrics.registry.metrics();
    const runs = [...text.matchAll(/^cellblock_jobs_total\{[^}]*\} (\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
    assert.equal(runs, n, 'no job ran twice');
  });

  test('two workers on one host, concurrency 2 each, 200 jobs: one result per job', async () => {
    newQueue();
    const m0 = new WorkerMetrics({ worker: 'w0', queue: queueName });
    const m1 = new WorkerMetrics({ worker: 'w1', queue: queueName });
    await inProcessWorker({ metrics: m0 });
    await inProcessWorker({ metrics: m1 });
    const n = 200;
    const ids = await client.submitMany(Array.from({ length: n }, (_, i) => job(['echo', String(i)])));
    const done = await Promise.all(ids.map((id) => client.result(id, 300_000)));
    const byWorker = new Map<string, number>();
    done.forEach((r, i) => {
      assert.equal(r.stdout, `${i}\n`);
      byWorker.set(r.worker ?? '?', (byWorker.get(r.worker ?? '?') ?? 0) + 1);
    });
    assert.equal(byWorker.size, 2, `both workers took jobs: ${JSON.stringify([...byWorker])}`);
    const count = async (m: WorkerMetrics): Promise<number> =>
      [...(await m.registry.metrics()).matchAll(/^cellblock_jobs_total\{[^}]*\} (\d+)$/gm)].reduce((s, x) => s + Number(x[1]), 0);
    assert.equal((await count(m0)) + (await count(m1)), n);
  });

  test('a tenant at its limit waits; other tenants are not starved', async () => {
    newQueue();
    await inProcessWorker({ concurrency: 3, tenantMaxRunning: 1 });
    const slots = new TenantSlots(admin, `bull:${queueName}`, 1, 60_000);
    let maxA = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        maxA = Math.max(maxA, await slots.running('a'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const aIds = await client.submitMany(Array.from({ length: 4 }, () => job(['sleep', '0.3'], { tenant: 'a' })));
    const bId = await client.submit(job(['echo', 'b'], { tenant: 'b' }));
    const b = await client.result(bId, 30_000);
    const aDoneBeforeB = (await Promise.all(aIds.map(async (id) => (await client.bullQueue.getJob(id))?.finishedOn))).filter((t) => t !== undefined && t <= (b.timings.queuedMs ?? 0) + Date.now()).length;
    const a = await Promise.all(aIds.map((id) => client.result(id, 30_000)));
    polling = false;
    await poll;
    assert.equal(b.verdict, 'OK');
    assert.ok(aDoneBeforeB < 4, 'tenant b did not wait for all of tenant a');
    assert.ok(a.every((r) => r.verdict === 'OK' && r.tenant === 'a'));
    assert.equal(maxA, 1, 'never more than one job of tenant a at once');
  });

  test('metrics and health over HTTP', async () => {
    newQueue();
    const metrics = new WorkerMetrics({ worker: 'w0', queue: queueName });
    const w = await inProcessWorker({ metrics });
    const server = await MetricsServer.listen(metrics.registry, w, 0, '127.0.0.1');
    try {
      await client.run(job(['echo', 'hi'], { tenant: 'acme' }), 30_000);
      await client.run(job(['sleep', '5'], { tenant: 'acme', limits: { wallMs: 200 } }), 30_000);
      const health = await fetch(`http://127.0.0.1:${server.port}/health`);
      assert.equal(health.status, 200);
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(text, /^cellblock_jobs_total\{verdict="OK",tenant="acme",worker="w0",queue="[^"]+"\} 1$/m);
      assert.match(text, /^cellblock_jobs_total\{verdict="WALL_TIME_LIMIT",tenant="acme",worker="w0",queue="[^"]+"\} 1$/m);
      assert.match(text, /^cellblock_job_phase_seconds_count\{worker="w0",queue="[^"]+",phase="setup"\} 2$/m);
      assert.match(text, /^cellblock_sandboxes_running\{[^}]*\} 0$/m);
      assert.match(text, /^cellblock_job_cpu_seconds_total\{tenant="acme",/m);
      assert.match(text, /^cellblock_reconcile_leftovers_total\{kind="cgroup",/m);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/nope`)).status, 404);
      await w.close();
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/health`)).status, 503);
    } finally {
      await server.close();
    }
  });
});
