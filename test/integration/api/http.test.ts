// The HTTP API over real HTTP on loopback: a real Redis, a real worker with real
// sandboxes. Enqueue, wait, status transitions, validation errors, auth, and
// cancellation of queued and running jobs (in this process's worker and in a
// `cellblock worker` process of its own).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { after, afterEach, before, describe, test } from 'node:test';
import { buildApiServer } from '../../../src/api/server.ts';
import { parseJobSpec, type JobSpecInput } from '../../../src/job/spec.ts';
import type { JobResult } from '../../../src/job/result.ts';
import { silentLogger } from '../../../src/log.ts';
import { CellblockClient } from '../../../src/queue/client.ts';
import { CellblockWorker } from '../../../src/queue/worker.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { SCOPE, TEST_IMAGE, TEST_STATE_DIR, TIME_SCALE, prepareTestImage, testRunner, scopeEnv } from '../../helpers/sandbox.ts';

const CLI = fileURLToPath(new URL('../../../bin/cellblock', import.meta.url));

let redis: TestRedis;
let admin: Redis;
let queueName: string;
let client: CellblockClient | undefined;
let app: FastifyInstance | undefined;
let base: string;
const workers: CellblockWorker[] = [];
const children: ChildProcess[] = [];

before(async () => {
  await prepareTestImage();
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
});
after(async () => {
  await admin.quit();
  await redis.stop();
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    // Reconcile below spares a worker that is still alive: wait until it is gone.
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await gone;
  }
  await app?.close();
  await client?.close();
  for (const w of workers.splice(0)) await w.close();
  app = undefined;
  client = undefined;
  const janitor = await testRunner();
  await janitor.reconcile();
  await janitor.close();
  const queue = new Queue(queueName, { connection: admin });
  await queue.obliterate({ force: true });
  await queue.close();
  // Cancel keys included: every path that sets one removes it.
  assert.deepEqual(await admin.keys(`bull:${queueName}:*`), []);
  await assertNoLeaks(SCOPE);
});

async function serve(token?: string): Promise<void> {
  queueName = uniqueQueueName('api');
  client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
  app = buildApiServer({ client, log: silentLogger, ...(token !== undefined ? { token } : {}) });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
}

async function startWorker(concurrency = 2): Promise<CellblockWorker> {
  const w = await CellblockWorker.start({ redis: redis.url, queueName, runner: await testRunner(), workerId: `api-w${workers.length}`, concurrency, log: silentLogger });
  workers.push(w);
  return w;
}

/** `cellblock worker` as a process of its own, on this test's queue and sandbox scope. */
function cliWorker(): ChildProcess {
  const child = spawn(CLI, ['worker', '--concurrency', '1'], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      CELLBLOCK_QUEUE: queueName,
      ...scopeEnv(),
      CELLBLOCK_WORKER_ID: 'cli-worker',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const job = (cmd: string[], extra: Partial<JobSpecInput> = {}): JobSpecInput => ({ image: TEST_IMAGE, cmd, ...extra });
const resultOf = (r: Reply): JobResult => r.body.result as JobResult;
const idOf = (r: Reply): string => {
  assert.equal(typeof r.body.id, 'string', JSON.stringify(r.body));
  return r.body.id as string;
};

async function until(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const statusIs = (id: string, status: string) => async (): Promise<boolean> => (await http('GET', `/jobs/${id}`)).body.status === status;

describe('HTTP API', () => {
  test('GET /health and GET /openapi.json (with the JobSpec schema)', async () => {
    await serve();
    const health = await http('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const doc = await http('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.1.0');
    const schemas = (doc.body.components as { schemas: Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown }> }).schemas;
    const jobSpec = schemas.JobSpec;
    assert.ok(jobSpec?.properties?.cmd !== undefined && jobSpec.properties.limits !== undefined && jobSpec.properties.files !== undefined);
    assert.equal(jobSpec.additionalProperties, false);
    assert.ok((doc.body.paths as Record<string, unknown>)['/jobs/{id}'] !== undefined);
  });

  test('POST /jobs returns an id; GET shows queued, running, then done with the result', async () => {
    await serve();
    const posted = await http('POST', '/jobs', job(['sh', '-c', 'sleep 0.5; echo hello']));
    assert.equal(posted.status, 201);
    const id = idOf(posted);
    assert.equal(posted.body.status, 'queued');
    assert.equal(posted.headers.get('location'), `/jobs/${id}`);
    // No worker yet: it stays queued.
    const queued = await http('GET', `/jobs/${id}`);
    assert.equal(queued.status, 200);
    assert.equal(queued.body.status, 'queued');
    await startWorker();
    await until('running', statusIs(id, 'running'));
    const done = await http('GET', `/jobs/${id}?wait=true&timeoutMs=30000`);
    assert.equal(done.status, 200);
    assert.equal(done.body.status, 'done');
    assert.equal(resultOf(done).verdict, 'OK');
    assert.equal(resultOf(done).stdout, 'hello\n');
    assert.ok(typeof done.body.finishedAt === 'string' && typeof done.body.startedAt === 'string');
  });

  test('POST /jobs?wait=true answers with the result; a wait that ends first answers 202', async () => {
    await serve();
    const early = await http('POST', '/jobs?wait=true&timeoutMs=200', job(['echo', 'later']));
    assert.equal(early.status, 202, 'no worker yet');
    assert.equal(early.body.status, 'queued');
    await startWorker();
    const r = await http('POST', '/jobs?wait=true', job(['sh', '-c', 'read x; echo "got $x"'], { stdin: '42\n' }));
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'done');
    assert.equal(resultOf(r).verdict, 'OK');
    assert.equal(resultOf(r).stdout, 'got 42\n');
  });

  test('an invalid body is a 400 with the same message the worker would give; bad JSON, unknown job, bad query', async () => {
    await serve();
    const bad = { image: TEST_IMAGE, cmd: 'not-an-array', limits: { memoryBytes: 'lots' } };
    const r = await http('POST', '/jobs', bad);
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'INVALID_JOB');
    assert.throws(() => parseJobSpec(bad), (err: Error) => err.message === r.body.message);
    assert.match(String(r.body.message), /cmd: .*limits\.memoryBytes/);
    const unknownField = await http('POST', '/jobs', { cmd: ['true'], nope: 1 });
    assert.equal(unknownField.status, 400);
    assert.match(String(unknownField.body.message), /nope/);
    const notJson = await http('POST', '/jobs', '{"cmd": [');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.code, 'INVALID_JSON');
    const missing = await http('GET', '/jobs/12345');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'JOB_NOT_FOUND');
    assert.equal((await http('DELETE', '/jobs/12345')).status, 404);
    const query = await http('POST', '/jobs?timeoutMs=soon', job(['true']));
    assert.equal(query.status, 400);
    assert.equal(query.body.code, 'BAD_REQUEST');
    const route = await http('GET', '/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.body.code, 'NOT_FOUND');
    assert.equal((await client!.bullQueue.getJobCounts('waiting')).waiting, 0, 'nothing was enqueued');
  });

  test('with a token: 401 (and WWW-Authenticate: Bearer) without it or with a wrong one, 200 with it; /health stays open', async () => {
    await serve('t0ken-for-tests');
    const none = await http('POST', '/jobs', job(['true']));
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await http('GET', '/jobs/1', undefined, { authorization: 'Bearer t0ken-for-test' });
    assert.equal(wrong.status, 401);
    const basic = await http('GET', '/jobs/1', undefined, { authorization: 'Basic dDBrZW4tZm9yLXRlc3Rz' });
    assert.equal(basic.status, 401);
    const ok = await http('POST', '/jobs', job(['true']), { authorization: 'Bearer t0ken-for-tests' });
    assert.equal(ok.status, 201);
    const get = await http('GET', `/jobs/${idOf(ok)}`, undefined, { authorization: 'bearer t0ken-for-tests' });
    assert.equal(get.status, 200);
    assert.equal((await http('GET', '/health')).status, 200);
    assert.equal((await http('GET', '/openapi.json')).status, 200);
  });

  test('DELETE of a queued job removes it: a worker started afterwards never runs it', async () => {
    await serve();
    const id = idOf(await http('POST', '/jobs', job(['echo', 'should never run'])));
    const del = await http('DELETE', `/jobs/${id}`);
    assert.equal(del.status, 200);
    assert.equal(del.body.outcome, 'removed');
    assert.equal((await http('GET', `/jobs/${id}`)).status, 404);
    await startWorker();
    const next = await http('POST', '/jobs?wait=true', job(['echo', 'second']));
    assert.equal(resultOf(next).stdout, 'second\n');
    const q = client!.bullQueue;
    assert.deepEqual(await q.getJobCounts('completed', 'failed', 'waiting', 'active'), { completed: 1, failed: 0, waiting: 0, active: 0 }, 'only the second job ran');
    assert.equal((await http('DELETE', `/jobs/${id}`)).status, 404, 'gone for good');
  });

  for (const [label, cmd] of [
    ['an infinite loop (cbfix cpu)', ['cbfix', 'cpu']],
    ['sleep 60', ['sleep', '60']],
  ] as const) {
    test(`DELETE of a running job (${label}) kills its sandbox and reports CANCELLED within about a second`, async (t) => {
      await serve();
      await startWorker();
      const id = idOf(await http('POST', '/jobs', job([...cmd], { limits: { cpuMs: 120_000, wallMs: 120_000 } })));
      await until('running', statusIs(id, 'running'));
      await new Promise((r) => setTimeout(r, 300)); // well inside the sandbox by now
      const t0 = Date.now();
      const del = await http('DELETE', `/jobs/${id}?wait=true&timeoutMs=10000`);
      const ms = Date.now() - t0;
      assert.equal(del.body.outcome, 'cancelling');
      assert.equal(del.status, 200, JSON.stringify(del.body));
      const view = del.body.job as { status: string; result: JobResult };
      assert.equal(view.status, 'done', 'completed, not failed or re-queued');
      assert.equal(view.result.verdict, 'CANCELLED');
      assert.ok(ms < 1000 * TIME_SCALE, `cancelled in ${ms} ms`);
      t.diagnostic(`DELETE to CANCELLED result: ${ms} ms`);
      assert.equal((await http('DELETE', `/jobs/${id}`)).body.outcome, 'finished');
      await assertNoLeaks(SCOPE);
      // The worker goes on.
      assert.equal(resultOf(await http('POST', '/jobs?wait=true', job(['echo', 'next']))).stdout, 'next\n');
    });
  }

  test('DELETE reaches a running job in another process (`cellblock worker`)', async (t) => {
    await serve();
    cliWorker();
    const id = idOf(await http('POST', '/jobs', job(['cbfix', 'cpu'], { limits: { cpuMs: 120_000, wallMs: 120_000 } })));
    await until('running', statusIs(id, 'running'), 60_000);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    assert.equal((await http('DELETE', `/jobs/${id}`)).status, 202);
    const done = await http('GET', `/jobs/${id}?wait=true&timeoutMs=10000`);
    const ms = Date.now() - t0;
    assert.equal(done.body.status, 'done');
    assert.equal(resultOf(done).verdict, 'CANCELLED');
    assert.equal(resultOf(done).worker, 'cli-worker');
    assert.ok(ms < 1000 * TIME_SCALE, `cancelled in ${ms} ms`);
    t.diagnostic(`DELETE to CANCELLED result: ${ms} ms`);
  });

  test('a missed pub/sub message: the worker still sees the cancel key within about a second', async () => {
    await serve();
    await startWorker();
    const id = idOf(await http('POST', '/jobs', job(['sleep', '60'], { limits: { wallMs: 120_000 } })));
    await until('running', statusIs(id, 'running'));
    const t0 = Date.now();
    await admin.set(`bull:${queueName}:cancel:${id}`, '1', 'EX', 60); // the key alone, no message
    const done = await http('GET', `/jobs/${id}?wait=true&timeoutMs=10000`);
    const ms = Date.now() - t0;
    assert.equal(resultOf(done).verdict, 'CANCELLED');
    assert.ok(ms < 1500 * TIME_SCALE, `cancelled in ${ms} ms`);
  });

  test('a cancel that races with pickup: the worker sees the request before it makes a sandbox', async () => {
    await serve();
    const id = idOf(await http('POST', '/jobs', job(['echo', 'never'])));
    // What cancel() leaves when the job turned active between its state check and remove().
    await admin.set(`bull:${queueName}:cancel:${id}`, '1', 'EX', 60);
    await startWorker();
    const r = await http('GET', `/jobs/${id}?wait=true&timeoutMs=30000`);
    assert.equal(r.body.status, 'done', JSON.stringify(r.body));
    assert.equal(resultOf(r).verdict, 'CANCELLED');
    assert.equal(resultOf(r).message, 'cancelled before it started');
    assert.equal(resultOf(r).stdout, '');
  });
});
