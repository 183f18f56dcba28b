// `npm run bench`: cellblock's job lifecycle (spec -> result; the sandbox's cleanup follows in the background)
// against the peers in bench/peers.ts, all running `true` in the same busybox
// rootfs in this run; then the queue path (bench/queue.ts), the scale curve (jobs/s
// by jobs in flight, direct and through the queue) and the cold start of a ~100 MB
// image import (bench/import.ts). Prints the tables, writes
// bench/results/<time>.json and a latency plot (.svg).
// Sizes: BENCH_N launches per series (default 200), BENCH_QUEUE_JOBS jobs per
// sustained queue batch (2000), BENCH_IMPORT_MB (100) and BENCH_IMPORT_RUNS (3).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../src/image/store.ts';
import { buildRecipe, DEFAULT_CACHE_DIR } from '../src/image/recipes.ts';
import { parseJobSpec } from '../src/job/spec.ts';
import { silentLogger } from '../src/log.ts';
import { createRunner } from '../src/sandbox/runner.ts';
import { benchImport, type ImportNumbers } from './import.ts';
import { ensurePeersInstalled, peers } from './peers.ts';
import { latencySvg } from './plot.ts';
import { benchQueue, queueAlone, QUEUE_BATCH, queueThroughput, type QueueNumbers, type WorkerPlan } from './queue.ts';
import { measure, median, rateAt, type Series } from './stats.ts';

const N = Number(process.env.BENCH_N ?? 200);
/** Jobs in flight for the direct runner's scale curve; the runner keeps as many sandboxes prepared. */
const DIRECT_CONCURRENCIES = [1, 2, 4];
/** Worker processes x concurrency for the queue's scale curve; 1 x 2 is benchQueue's own batch. */
const QUEUE_PLANS: WorkerPlan[] = [
  { processes: 1, concurrency: 1 },
  { processes: 1, concurrency: 2 },
  { processes: 1, concurrency: 4 },
  { processes: 2, concurrency: 2 },
];
const WARMUP = 10;
const STATE = '/var/lib/cellblock-bench';
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    cgroup: fs.existsSync('/sys/fs/cgroup/cgroup.controllers') && fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').trim() !== '' ? 'v2' : 'v1',
  };
}

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** A row of the cold start table: medians, best and every run of one method. */
function importRow(method: string, seconds: number[], cpuSeconds: number[], mbPerSecond: number, untimed: number): string[] {
  return [method, f(median(seconds), 2), f(mbPerSecond, 0), f(Math.min(...seconds), 2), f(median(cpuSeconds), 2), seconds.map((x) => f(x, 2)).join(' '), f(untimed, 2)];
}

interface ScalePoint {
  path: 'direct' | 'queue';
  /** Worker processes (queue path only). */
  processes?: number;
  concurrency: number;
  inFlight: number;
  jobsPerSecond: number;
}

/** The queue's scale curve; 1 worker x 2 is the rate benchQueue measured (`oneByTwo`), not run again. */
async function queueScale(oneByTwo: number): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const plan of QUEUE_PLANS) {
    const reused = plan.processes === 1 && plan.concurrency === 2;
    if (!reused) process.stderr.write(`bench: queue path, ${plan.processes} worker(s) x concurrency ${plan.concurrency}, ${QUEUE_BATCH} jobs\n`);
    const jobsPerSecond = reused ? oneByTwo : await queueThroughput(plan);
    points.push({ path: 'queue', processes: plan.processes, concurrency: plan.concurrency, inFlight: plan.processes * plan.concurrency, jobsPerSecond });
  }
  return points;
}

ensurePeersInstalled();
// What a user runs: the launcher and the bundled CLI the queue path's workers start
// (bin/cellblock falls back to tsx when the bundle is older than src/).
for (const script of ['build-native.mjs', 'build-js.mjs']) {
  execFileSync(process.execPath, [fileURLToPath(new URL(`../scripts/${script}`, import.meta.url))], { stdio: ['ignore', 'ignore', 'inherit'] });
}
const store = new ImageStore(path.join(STATE, 'images'), silentLogger);
const image = await buildRecipe('busybox', { store, log: silentLogger });
const runner = await createRunner({ stateDir: STATE, log: silentLogger, cgroupParent: 'cellblock-bench', uidBase: 0x55000000, uidRanges: 32, prepared: Math.max(...DIRECT_CONCURRENCIES) });
const spec = parseJobSpec({ image: 'busybox', cmd: ['/bin/true'] });
const phases: { setup: number[]; run: number[]; teardown: number[] } = { setup: [], run: [], teardown: [] };

const results: { name: string; series?: Series; unavailable?: string }[] = [];
process.stderr.write(`bench: cellblock, ${N} launches sequential + ${N} each at ${DIRECT_CONCURRENCIES.filter((c) => c > 1).join(', ')} at a time\n`);
results.push({
  name: 'cellblock (full lifecycle)',
  series: await measure(async (i) => {
    const r = await runner.run(spec, { jobId: `bench-${process.pid}-${i}` });
    if (r.verdict !== 'OK') throw new Error(`cellblock: ${r.verdict} ${r.message ?? ''}`);
    // Phases of the warm-up, sequential and 2-at-a-time launches only, as before the scale curve.
    if (i >= WARMUP + 2 * N) return;
    phases.setup.push(r.timings.setupMs);
    phases.run.push(r.timings.runMs);
    phases.teardown.push(r.timings.teardownMs);
  }, N, { warmup: WARMUP, concurrencies: DIRECT_CONCURRENCIES }),
});
await runner.close();
const others = await peers(image.rootfs);
for (const peer of others.list) {
  if (peer.unavailable) {
    results.push({ name: peer.name, unavailable: peer.unavailable });
    continue;
  }
  process.stderr.write(`bench: ${peer.name}\n`);
  results.push({ name: peer.name, series: await measure((i) => peer.launch(i), N, { warmup: WARMUP }) });
}
others.close();

const cb = results[0]!.series!;
const rows = results.map((r) =>
  r.series
    ? [r.name, f(r.series.p50, 2), f(r.series.p99, 2), f(r.series.perSecond1, 0), f(r.series.perSecond2, 0), r === results[0] ? '1.00' : f(cb.p50 / r.series.p50, 2), r === results[0] ? '1.00' : f(cb.perSecond2 / r.series.perSecond2, 2)]
    : [r.name, '-', '-', '-', '-', '-', 'unavailable'],
);
console.log(`\nDirect launch of \`true\` in busybox, ${N} launches (this run, ${os.cpus().length} cores, ${os.release()})`);
console.log(table(['launcher', 'p50 ms', 'p99 ms', '/s (1)', '/s (2)', 'cellblock p50 / this', 'cellblock /s(2) / this'], rows));
for (const r of results) if (r.unavailable) console.log(`${r.name} unavailable here: ${r.unavailable}`);
console.log(`cellblock phases (median ms): setup ${f(median(phases.setup), 2)}, run ${f(median(phases.run), 2)}, teardown ${f(median(phases.teardown), 2)}`);

process.stderr.write(`bench: queue path, one worker, ${QUEUE_BATCH} jobs sustained\n`);
const queue: QueueNumbers = await benchQueue();
const signed = (n: number): string => `${n >= 0 ? '+' : ''}${f(n, 0)}`;
console.log(`\nThrough Redis (BullMQ): one worker process, concurrency 2, sustained batch of ${queue.batch} jobs`);
console.log(table(['measure', 'value'], [
  ['submit-to-result p50 ms', f(queue.latencyP50, 1)],
  ['submit-to-result p99 ms', f(queue.latencyP99, 1)],
  ['sustained jobs/s', f(queue.jobsPerSecond, 0)],
  ['worker RSS MiB (start -> end)', `${f(queue.rssStartMiB, 0)} -> ${f(queue.rssEndMiB, 0)}`],
  ['worker RSS MiB peak', f(queue.rssPeakMiB, 0)],
  ['worker RSS growth MiB (end - after warm-up)', signed(queue.rssGrowthMiB)],
  ["worker RSS growth MiB in the batch's second half", signed(queue.rssGrowthSecondHalfMiB)],
]));
console.log(`worker RSS sampled ${queue.rssSamples.length} times (after warm-up, after the latency jobs, every 100 jobs of the batch, at its end)`);
process.stderr.write('bench: the queue alone (a runner that runs nothing)\n');
const queueOnly = await queueAlone();
console.log(`The queue alone (same client, an in-process worker whose runner runs nothing, concurrency 2): p50 ${f(queueOnly.latencyP50, 1)} ms, p99 ${f(queueOnly.latencyP99, 1)} ms, ${f(queueOnly.jobsPerSecond, 0)} jobs/s`);

const scale: ScalePoint[] = [
  ...DIRECT_CONCURRENCIES.map((c): ScalePoint => ({ path: 'direct', concurrency: c, inFlight: c, jobsPerSecond: rateAt(cb.rates, c) })),
  ...(await queueScale(queue.jobsPerSecond)),
];
const alone = (p: ScalePoint): number => scale.find((q) => q.path === p.path && q.inFlight === 1)?.jobsPerSecond ?? Number.NaN;
console.log(`\nScale: trivial jobs/s by jobs in flight (direct: ${N} launches each, runner with ${Math.max(...DIRECT_CONCURRENCIES)} sandboxes prepared; queue: batches of ${QUEUE_BATCH})`);
console.log(table(['path', 'workers', 'concurrency', 'in flight', 'jobs/s', 'vs 1 in flight'], scale.map((p) => [
  p.path === 'direct' ? 'direct runner (library)' : `queue, ${p.processes} worker${p.processes === 1 ? '' : 's'}`,
  p.processes === undefined ? '-' : String(p.processes),
  String(p.concurrency),
  String(p.inFlight),
  f(p.jobsPerSecond, 0),
  f(p.jobsPerSecond / alone(p), 2),
])));

process.stderr.write('bench: cold start, image import\n');
const imported: ImportNumbers = await benchImport({ busyboxTar: path.join(DEFAULT_CACHE_DIR, 'busybox.tar') });
console.log(`\nCold start: import of a ${f(imported.tarballBytes / 1e6, 0)} MB image (rootfs tarball, ${imported.entries} entries; ${imported.runs} runs of each, every one into an empty directory or store; tarball in the page cache; a sync, not timed, before each run)`);
console.log(table(['method', 'median s', 'MB/s', 'best s', 'cpu s', 'runs s (in order)', 'untimed first run s'], [
  importRow(`tar -x (${imported.tarVersion})`, imported.tarSeconds, imported.tarCpuSeconds, imported.tarMBps, imported.warmup.tarSeconds),
  importRow('cellblock image import (ImageStore.importFile)', imported.cellblockSeconds, imported.cellblockCpuSeconds, imported.cellblockMBps, imported.warmup.cellblockSeconds),
]));
console.log(`cellblock takes ${f(imported.cellblockOverTar, 2)}x as long as tar -x (median runs; best against best ${f(imported.bestCellblockOverTar, 2)}x; cpu ${f(imported.cpuCellblockOverTar, 2)}x); its steps (median s): ${Object.entries(imported.cellblockSteps).map(([k, v]) => `${k} ${f(v, 2)}`).join(', ')}`);

fs.mkdirSync(RESULTS, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const out = path.join(RESULTS, `bench-${stamp}.json`);
fs.writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), machine: machine(), n: N, direct: results.map((r) => ({ name: r.name, unavailable: r.unavailable, ...(r.series ? { p50: r.series.p50, p99: r.series.p99, perSecond1: r.series.perSecond1, perSecond2: r.series.perSecond2 } : {}) })), phases: { setup: median(phases.setup), run: median(phases.run), teardown: median(phases.teardown) }, queue, queueAlone: queueOnly, scale, import: imported }, null, 2));
fs.writeFileSync(out.replace(/\.json$/, '.svg'), latencySvg(results.filter((r) => r.series).map((r) => ({ name: r.name, latencies: r.series!.latencies })), `true in busybox: ms per launch (${N} sequential), ${new Date().toISOString().slice(0, 10)}`));
console.log(`\nsaved ${path.relative(process.cwd(), out)} and .svg`);
