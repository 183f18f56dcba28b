// Workers and clients through Redis Sentinel and Redis Cluster (hash-tagged
// prefix): real servers on loopback, a real sandbox behind.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfig } from '../../../src/config.ts';
import { silentLogger } from '../../../src/log.ts';
import { CellblockClient } from '../../../src/queue/client.ts';
import { redisTargetFrom, type RedisTarget } from '../../../src/queue/connection.ts';
import { CellblockWorker } from '../../../src/queue/worker.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { startRedisCluster, startRedisSentinel } from '../../helpers/redis.ts';
import { SCOPE, TEST_IMAGE, testRunner } from '../../helpers/sandbox.ts';

const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops.splice(0)) await s();
});

async function roundTrip(target: RedisTarget): Promise<void> {
  const queueName = uniqueQueueName('topo');
  const worker = await CellblockWorker.start({ redis: target, queueName, runner: await testRunner(), workerId: 'topo', concurrency: 1, log: silentLogger });
  const client = new CellblockClient({ redis: target, queueName, log: silentLogger });
  try {
    const r = await client.run({ image: TEST_IMAGE, cmd: ['echo', 'through'] }, 60_000);
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(r.stdout, 'through\n');
    await client.bullQueue.obliterate({ force: true });
  } finally {
    await client.close();
    await worker.close();
  }
  await assertNoLeaks(SCOPE);
}

test('through Redis Sentinel', async () => {
  const s = await startRedisSentinel();
  stops.push(s.stop);
  const target = redisTargetFrom(loadConfig({ env: { REDIS_SENTINELS: s.sentinels, REDIS_SENTINEL_NAME: s.masterName } }));
  await roundTrip(target);
});

test('through Redis Cluster, every key of a queue in one slot', async () => {
  const c = await startRedisCluster();
  stops.push(c.stop);
  const config = loadConfig({ env: { REDIS_CLUSTER_NODES: c.nodes } });
  assert.equal(config.redisPrefix, '{cellblock}');
  // BullMQ's scripts touch several keys at once: without the hash tag they would fail with CROSSSLOT.
  await roundTrip(redisTargetFrom(config));
});
