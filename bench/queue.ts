// The queue path: a `cellblock worker` process (concurrency 2) on a throwaway
// Redis; submit-to-result latency one job at a time, then sustained throughput
// of a batch, and the worker's RSS before and after.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/log.ts';
import { CellblockClient } from '../src/queue/client.ts';
import { startLocalRedisServer } from '../test/helpers/redis.ts';
import { percentile } from './stats.ts';

export interface QueueNumbers {
  latencyP50: number;
  latencyP99: number;
  jobsPerSecond: number;
  rssStartMiB: number;
  rssEndMiB: number;
}

const CLI = fileURLToPath(new URL('../bin/cellblock', import.meta.url));

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

export async function benchQueue(latencyJobs = 200, batch = Number(process.env.BENCH_QUEUE_JOBS ?? 2000)): Promise<QueueNumbers> {
  const redis = await startLocalRedisServer();
  const queueName = `bench-${process.pid}`;
  const worker = spawn(CLI, ['worker', '--concurrency', '2'], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      CELLBLOCK_QUEUE: queueName,
      CELLBLOCK_STATE_DIR: '/var/lib/cellblock-bench',
      CELLBLOCK_CGROUP_PARENT: 'cellblock-bench',
      CELLBLOCK_UID_BASE: String(0x55000000),
      CELLBLOCK_UID_RANGES: '8',
      CELLBLOCK_LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
  const job = { image: 'busybox', cmd: ['/bin/true'] };
  try {
    // Warm up (and wait for the worker to be there).
    for (let i = 0; i < 10; i++) await client.run(job, 60_000);
    const rssStartMiB = rssMiB(worker.pid!);
    const lat: number[] = [];
    for (let i = 0; i < latencyJobs; i++) {
      const t = performance.now();
      await client.run(job, 60_000);
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    const t0 = performance.now();
    const ids = await client.submitMany(Array.from({ length: batch }, () => job));
    await Promise.all(ids.map((id) => client.result(id, 600_000)));
    const seconds = (performance.now() - t0) / 1000;
    const rssEndMiB = rssMiB(worker.pid!);
    await client.bullQueue.obliterate({ force: true });
    return { latencyP50: percentile(lat, 50), latencyP99: percentile(lat, 99), jobsPerSecond: batch / seconds, rssStartMiB, rssEndMiB };
  } finally {
    await client.close();
    worker.kill('SIGTERM');
    await new Promise((r) => worker.on('exit', r));
    await redis.stop();
  }
}
