// `npm run bench`: cellblock's full job lifecycle (spec -> result, teardown done)
// against the peers in bench/peers.ts, all running `true` in the same busybox
// rootfs in this run; then the queue path (bench/queue.ts). Prints the tables,
// writes bench/results/<time>.json and a latency plot (.svg).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../src/image/store.ts';
import { buildRecipe } from '../src/image/recipes.ts';
import { parseJobSpec } from '../src/job/spec.ts';
import { silentLogger } from '../src/log.ts';
import { createRunner } from '../src/sandbox/runner.ts';
import { ensurePeersInstalled, peers } from './peers.ts';
import { latencySvg } from './plot.ts';
import { benchQueue, type QueueNumbers } from './queue.ts';
import { measure, type Series } from './stats.ts';

const N = Number(process.env.BENCH_N ?? 200);
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

ensurePeersInstalled();
const store = new ImageStore(path.join(STATE, 'images'), silentLogger);
const image = await buildRecipe('busybox', { store, log: silentLogger });
const runner = await createRunner({ stateDir: STATE, log: silentLogger, cgroupParent: 'cellblock-bench', uidBase: 0x55000000, uidRanges: 8, prewarm: 2 });
const spec = parseJobSpec({ image: 'busybox', cmd: ['/bin/true'] });
const phases: { setup: number[]; run: number[]; teardown: number[] } = { setup: [], run: [], teardown: [] };

const results: { name: string; series?: Series; unavailable?: string }[] = [];
process.stderr.write(`bench: cellblock, ${N} launches sequential + ${N} two at a time\n`);
results.push({
  name: 'cellblock (full lifecycle)',
  series: await measure(async (i) => {
    const r = await runner.run(spec, { jobId: `bench-${process.pid}-${i}` });
    if (r.verdict !== 'OK') throw new Error(`cellblock: ${r.verdict} ${r.message ?? ''}`);
    phases.setup.push(r.timings.setupMs);
    phases.run.push(r.timings.runMs);
    phases.teardown.push(r.timings.teardownMs);
  }, N),
});
await runner.close();
const others = await peers(image.rootfs);
for (const peer of others.list) {
  if (peer.unavailable) {
    results.push({ name: peer.name, unavailable: peer.unavailable });
    continue;
  }
  process.stderr.write(`bench: ${peer.name}\n`);
  results.push({ name: peer.name, series: await measure((i) => peer.launch(i), N) });
}
others.close();

const cb = results[0]!.series!;
const rows = results.map((r) =>
  r.series
    ? [r.name, f(r.series.p50, 2), f(r.series.p99, 2), f(r.series.perSecond1, 0), f(r.series.perSecond2, 0), r === results[0] ? '1.00' : f(cb.p50 / r.series.p50, 2), r === results[0] ? '1.00' : f(cb.perSecond2 / r.series.perSecond2, 2)]
    : [r.name, '-', '-', '-', '-', '-', 'unavailable'],
);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
console.log(`\nDirect launch of \`true\` in busybox, ${N} launches (this run, ${os.cpus().length} cores, ${os.release()})`);
console.log(table(['launcher', 'p50 ms', 'p99 ms', '/s (1)', '/s (2)', 'cellblock p50 / this', 'cellblock /s(2) / this'], rows));
for (const r of results) if (r.unavailable) console.log(`${r.name} unavailable here: ${r.unavailable}`);
console.log(`cellblock phases (median ms): setup ${f(median(phases.setup), 2)}, run ${f(median(phases.run), 2)}, teardown ${f(median(phases.teardown), 2)}`);

process.stderr.write('bench: queue path\n');
const queue: QueueNumbers = await benchQueue();
console.log('\nThrough Redis (BullMQ): one worker process, concurrency 2');
console.log(table(['measure', 'value'], [
  ['submit-to-result p50 ms', f(queue.latencyP50, 1)],
  ['submit-to-result p99 ms', f(queue.latencyP99, 1)],
  ['sustained jobs/s', f(queue.jobsPerSecond, 0)],
  ['worker RSS MiB (start -> end)', `${f(queue.rssStartMiB, 0)} -> ${f(queue.rssEndMiB, 0)}`],
]));

fs.mkdirSync(RESULTS, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const out = path.join(RESULTS, `bench-${stamp}.json`);
fs.writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), machine: machine(), n: N, direct: results.map((r) => ({ name: r.name, unavailable: r.unavailable, ...(r.series ? { p50: r.series.p50, p99: r.series.p99, perSecond1: r.series.perSecond1, perSecond2: r.series.perSecond2 } : {}) })), phases: { setup: median(phases.setup), run: median(phases.run), teardown: median(phases.teardown) }, queue }, null, 2));
fs.writeFileSync(out.replace(/\.json$/, '.svg'), latencySvg(results.filter((r) => r.series).map((r) => ({ name: r.name, latencies: r.series!.latencies })), `true in busybox: ms per launch (${N} sequential), ${new Date().toISOString().slice(0, 10)}`));
console.log(`\nsaved ${path.relative(process.cwd(), out)} and .svg`);
