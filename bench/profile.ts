// Where a job's time goes: the runner's per-phase debug lines and, from a
// profiling build of the launcher (`npm run build:native -- --trace`), when each
// launcher step ended; medians over N jobs of `true`, in ms since run() began.
// Usage: tsx bench/profile.ts [N]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ImageStore } from '../src/image/store.ts';
import { buildRecipe } from '../src/image/recipes.ts';
import { parseJobSpec } from '../src/job/spec.ts';
import { silentLogger } from '../src/log.ts';
import { createRunner } from '../src/sandbox/runner.ts';

const N = Number(process.argv[2] ?? 100);
const WARMUP = 10;
const STATE = '/var/lib/cellblock-bench';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const phases = new Map<string, number[]>();
const add = (name: string, ms: number): void => void phases.set(name, [...(phases.get(name) ?? []), ms]);
let jobs = 0;
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      const rec = JSON.parse(line) as { phase?: string; ms?: number; steps?: [string, number][] };
      if (jobs < WARMUP) continue;
      if (rec.phase && typeof rec.ms === 'number') add(rec.phase, rec.ms);
      for (const [step, ms] of rec.steps ?? []) add(`  launcher: ${step}`, ms);
    }
    done();
  },
});
execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-native.mjs'), '--trace'], { stdio: 'inherit' });
const log = pino({ level: 'debug' }, sink);
await buildRecipe('busybox', { store: new ImageStore(path.join(STATE, 'images'), silentLogger), log: silentLogger });
const runner = await createRunner({ stateDir: STATE, log, cgroupParent: 'cellblock-bench', uidBase: 0x55000000, uidRanges: 32, prepared: 4, launcherPath: path.join(ROOT, 'native/build/cellblock-launcher-trace') });
const spec = parseJobSpec({ image: 'busybox', cmd: ['/bin/true'] });
const totals: number[] = [];
for (; jobs < N + WARMUP; jobs++) {
  const t = performance.now();
  const r = await runner.run(spec, { jobId: `profile-${process.pid}-${jobs}` });
  if (jobs >= WARMUP) totals.push(performance.now() - t);
  if (r.verdict !== 'OK') throw new Error(r.message);
}
await runner.close();
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log(`median of ${N} jobs: ${med(totals).toFixed(2)} ms from run() to result`);
const rows = [...phases].map(([name, xs]) => [name, med(xs)] as const).sort((a, b) => (a[0] === 'teardown' || a[0] === 'reclaim' ? 1 : 0) - (b[0] === 'teardown' || b[0] === 'reclaim' ? 1 : 0) || a[1] - b[1]);
for (const [name, ms] of rows) console.log(`  ${name.padEnd(28)} ${ms.toFixed(2)} ms${name === 'teardown' || name === 'reclaim' ? ' (own duration)' : ''}`);
