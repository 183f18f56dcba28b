// Where a job's time goes: the runner's own per-phase debug lines over N jobs of
// `true`, with launchers started ahead of demand. Usage: tsx bench/profile.ts [N]
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ImageStore } from '../src/image/store.ts';
import { buildRecipe } from '../src/image/recipes.ts';
import { parseJobSpec } from '../src/job/spec.ts';
import { silentLogger } from '../src/log.ts';
import { createRunner } from '../src/sandbox/runner.ts';

const N = Number(process.argv[2] ?? 100);
const STATE = '/var/lib/cellblock-bench';
const phases = new Map<string, number[]>();
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      const rec = JSON.parse(line) as { phase?: string; ms?: number };
      if (rec.phase && typeof rec.ms === 'number') phases.set(rec.phase, [...(phases.get(rec.phase) ?? []), rec.ms]);
    }
    done();
  },
});
const log = pino({ level: 'debug' }, sink);
await buildRecipe('busybox', { store: new ImageStore(path.join(STATE, 'images'), silentLogger), log: silentLogger });
const runner = await createRunner({ stateDir: STATE, log, cgroupParent: 'cellblock-bench', uidBase: 0x55000000, uidRanges: 8, prewarm: 1 });
const spec = parseJobSpec({ image: 'busybox', cmd: ['/bin/true'] });
const totals: number[] = [];
for (let i = 0; i < N + 10; i++) {
  const t = performance.now();
  const r = await runner.run(spec, { jobId: `profile-${process.pid}-${i}` });
  if (i >= 10) totals.push(performance.now() - t);
  if (r.verdict !== 'OK') throw new Error(r.message);
  await new Promise((res) => setImmediate(res)); // let the pool refill, as between real jobs
}
await runner.close();
const med = (xs: number[]): string => ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN).toFixed(2);
console.log(`median of ${N}: total ${med(totals)} ms`);
for (const [phase, xs] of phases) console.log(`  ${phase.padEnd(10)} ${med(xs.slice(10))} ms (since start of run() for prepare/started; own duration for teardown)`);
