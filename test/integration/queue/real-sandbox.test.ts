// The product end to end: real Redis, the BullMQ worker, the real sandbox. Jobs
// go in through the typed client and real results come back; a bad spec fails
// readably and the worker goes on; the demo batch (C, Python, shell, and one job
// per limit) gets the verdicts it expects on the toolchain image.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { after, afterEach, before, describe, test } from 'node:test';
import { loadDemoJobs, mismatches } from '../../../src/cli/demo-jobs.ts';
import { buildRecipe } from '../../../src/image/recipes.ts';
import type { JobSpecInput } from '../../../src/job/spec.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { CellblockClient } from '../../../src/queue/client.ts';
import { CellblockWorker } from '../../../src/queue/worker.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { SCOPE, TEST_IMAGE, TEST_STATE_DIR, testRunner } from '../../helpers/sandbox.ts';

const DEMO_JOBS = fileURLToPath(new URL('../../../demo/jobs/', import.meta.url));

let redis: TestRedis;
let admin: Redis;
let worker: CellblockWorker | undefined;
let client: CellblockClient | undefined;
let queueName: string;

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
});
after(async () => {
  await admin.quit();
  await redis.stop();
});

async function startWorker(concurrency: number): Promise<void> {
  queueName = uniqueQueueName('e2e');
  worker = await CellblockWorker.start({ redis: redis.url, queueName, runner: await testRunner(), workerId: 'e2e-worker', concurrency, log: silentLogger });
  client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
}

afterEach(async () => {
  await client?.close();
  await worker?.close();
  client = undefined;
  worker = undefined;
  const queue = new Queue(queueName, { connection: admin });
  await queue.obliterate({ force: true });
  await queue.close();
  assert.deepEqual(await admin.keys(`bull:${queueName}:*`), []);
  await assertNoLeaks(SCOPE);
});

describe('queue + real sandbox', () => {
  test('a job goes through Redis into a fresh sandbox and its result comes back', async () => {
    await startWorker(2);
    const r = await client!.run({ image: TEST_IMAGE, cmd: ['sh', '-c', 'read x; echo "got $x from $(hostname)"'], stdin: '42\n' }, 30_000);
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(r.stdout, 'got 42 from cellblock\n');
    assert.equal(r.worker, 'e2e-worker');
    assert.ok((r.timings.queuedMs ?? -1) >= 0);
  });

  test('an invalid spec fails with a readable error and the worker keeps going', async () => {
    await startWorker(1);
    const queue = new Queue(queueName, { connection: admin });
    const bad = await queue.add('bad', { image: TEST_IMAGE, cmd: 'not-an-array', limits: { memoryBytes: 'lots' } });
    await queue.close();
    await assert.rejects(client!.result(bad.id!, 30_000), (err: Error) => {
      assert.match(err.message, /invalid job spec: .*cmd/);
      assert.match(err.message, /limits\.memoryBytes/);
      return true;
    });
    const r = await client!.run({ image: TEST_IMAGE, cmd: ['echo', 'still here'] }, 30_000);
    assert.equal(r.stdout, 'still here\n');
  });

  test('a job with an OCI seccomp profile (argument rules) goes through the queue', async () => {
    await startWorker(1);
    const seccomp = {
      oci: {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 0o600, op: 'SCMP_CMP_EQ' }] },
          { names: ['fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 2, value: 0o600, op: 'SCMP_CMP_EQ' }] },
        ],
      },
    } satisfies JobSpecInput['seccomp'];
    const r = await client!.run({ image: TEST_IMAGE, cmd: ['sh', '-c', 'touch f; chmod 600 f 2>&1; chmod 644 f && echo chmod-644-ok'], seccomp }, 30_000);
    assert.equal(r.verdict, 'OK', r.message);
    assert.match(r.stdout, /Permission denied/);
    assert.match(r.stdout, /chmod-644-ok/);
  });

  test('the demo batch gets the verdicts it expects (toolchain image)', { timeout: 600_000 }, async () => {
    // Built by scripts/install.sh (cached); imported into the test store here.
    await buildRecipe('toolchain', { store: new ImageStore(path.join(TEST_STATE_DIR, 'images'), silentLogger), log: silentLogger });
    await startWorker(2);
    const jobs = await loadDemoJobs(DEMO_JOBS);
    assert.ok(jobs.length >= 8);
    const ids = await client!.submitMany(jobs.map((j) => j.spec));
    const results = await Promise.all(ids.map((id) => client!.result(id, 120_000)));
    const problems = jobs.flatMap((j, i) => mismatches(j.expectation, results[i]!).map((m) => `${j.name}: ${m}`));
    assert.deepEqual(problems, []);
  });
});
