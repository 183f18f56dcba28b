// Soak: N short jobs through 2 worker processes while one worker is SIGKILLed
// and restarted and Redis is restarted once. At the end every job must have
// exactly one final result, no job may have run twice without its result saying
// so (attempt > 1), and the host must hold no leftover process, mount, cgroup
// or job directory. Usage: npm run soak [-- JOBS]   (default 10000)
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRunner } from '../src/sandbox/runner.ts';
import { silentLogger } from '../src/log.ts';
import { CellblockClient } from '../src/queue/client.ts';
import { startLocalRedisServer } from '../test/helpers/redis.ts';
import { leftovers, type LeakScope } from '../test/helpers/leaks.ts';
import type { JobResult } from '../src/job/result.ts';

const N = Number(process.argv[2] ?? 10_000);
const CLI = fileURLToPath(new URL('../bin/cellblock', import.meta.url));
const SCOPE: LeakScope = { stateDir: '/var/lib/cellblock-soak', cgroupParent: 'cellblock-soak', uidBase: 0x54000000, uidRanges: 16 };
const QUEUE = `soak-${process.pid}`;
const log = (msg: string): void => void process.stderr.write(`soak: ${msg}\n`);

const redis = await startLocalRedisServer({ persistent: true });
const env = {
  ...process.env,
  REDIS_URL: redis.url,
  CELLBLOCK_QUEUE: QUEUE,
  CELLBLOCK_STATE_DIR: SCOPE.stateDir,
  CELLBLOCK_CGROUP_PARENT: SCOPE.cgroupParent,
  CELLBLOCK_UID_BASE: String(SCOPE.uidBase),
  CELLBLOCK_UID_RANGES: String(SCOPE.uidRanges),
  CELLBLOCK_LOCK_MS: '3000',
  CELLBLOCK_LOG_LEVEL: 'info',
};

// Every "job done" line of every worker: how many times each job really ran to the end.
const runs = new Map<string, number>();
function startWorker(id: string): ChildProcess {
  const child = spawn(CLI, ['worker', '--concurrency', '2'], { env: { ...env, CELLBLOCK_WORKER_ID: id }, stdio: ['ignore', 'ignore', 'pipe'] });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      const rec = JSON.parse(line) as { msg?: string; bullJobId?: string };
      if (rec.msg === 'job done' && rec.bullJobId) runs.set(rec.bullJobId, (runs.get(rec.bullJobId) ?? 0) + 1);
    } catch {
      // not a log line
    }
  });
  return child;
}

// The image must exist in the soak's state dir.
const setup = spawn(CLI, ['image', 'build', 'busybox'], { env: { ...env, CELLBLOCK_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
await new Promise((r) => setup.on('exit', r));

const workers = [startWorker('soak-a'), startWorker('soak-b')];
const client = new CellblockClient({ redis: redis.url, queueName: QUEUE, log: silentLogger });
const t0 = Date.now();
const ids: string[] = [];
for (let i = 0; i < N; i += 500) {
  ids.push(...(await client.submitMany(Array.from({ length: Math.min(500, N - i) }, (_, k) => ({ image: 'busybox', cmd: ['echo', String(i + k)] })))));
}
log(`submitted ${N} jobs in ${Date.now() - t0} ms`);

const completed = async (): Promise<number> => client.bullQueue.getCompletedCount();
let killed = false;
let redisRestarted = false;
while ((await completed()) < N) {
  const done = await completed();
  if (!killed && done >= N * 0.3) {
    killed = true;
    log(`${done} done: SIGKILL worker soak-a, restart it in 1 s`);
    workers[0]!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    workers[0] = startWorker('soak-a');
  }
  if (!redisRestarted && done >= N * 0.6) {
    redisRestarted = true;
    log(`${done} done: restarting Redis (1 s down)`);
    await redis.restart(1000);
  }
  const failed = await client.bullQueue.getFailedCount();
  if (failed > 0) break;
  await new Promise((r) => setTimeout(r, 200));
}
const elapsed = (Date.now() - t0) / 1000;

const results: JobResult[] = [];
const problems: string[] = [];
for (const [i, id] of ids.entries()) {
  try {
    const r = await client.result(id, 5_000);
    results.push(r);
    if (r.verdict !== 'OK' || r.stdout !== `${i}\n`) problems.push(`job ${id}: ${r.verdict} ${JSON.stringify(r.stdout)} ${r.message ?? ""}`);
  } catch (err) {
    problems.push(`job ${id}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
const retried = results.filter((r) => (r.attempt ?? 1) > 1).length;
const ranTwice = [...runs.entries()].filter(([, n]) => n > 1);
const silentDuplicates = ranTwice.filter(([id]) => (results[ids.indexOf(id)]?.attempt ?? 1) === 1).length;

for (const w of workers) {
  w.kill('SIGTERM');
  await new Promise((r) => w.on('exit', r));
}
await client.bullQueue.obliterate({ force: true });
await client.close();
await redis.stop();
// What a restarted worker does first: remove a dead worker's leftovers.
const janitor = await createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, cgroupParent: SCOPE.cgroupParent, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges });
const reconciled = await janitor.reconcile();
await janitor.close();
const left = leftovers(SCOPE);

const summary = {
  jobs: N,
  seconds: Math.round(elapsed),
  jobsPerSecond: Math.round(N / elapsed),
  workerKilledAndRestarted: killed,
  redisRestarted,
  results: results.length,
  wrongOrMissing: problems.length,
  rerunAfterCrash: retried,
  silentDuplicates,
  reconciledAfterwards: reconciled,
  leftovers: left,
};
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
for (const p of problems.slice(0, 10)) log(p);
const ok = results.length === N && problems.length === 0 && silentDuplicates === 0 && left.length === 0;
log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
