import { createRunner } from '../src/sandbox/runner.ts';
import { parseJobSpec } from '../src/job/spec.ts';
import { silentLogger } from '../src/log.ts';
const runner = await createRunner({ stateDir: '/var/lib/cellblock', log: silentLogger });
const spec = parseJobSpec({ image: 'busybox', cmd: ['true'] });
const n = Number(process.argv[2] ?? 50);
const rows: number[][] = [];
for (let i = 0; i < n; i++) {
  const t = performance.now();
  const r = await runner.run(spec, { jobId: `bench-${i}` });
  rows.push([performance.now() - t, r.timings.setupMs, r.timings.runMs, r.timings.teardownMs]);
}
const med = (k: number) => rows.map((r) => r[k]!).sort((a, b) => a - b)[Math.floor(rows.length / 2)]!.toFixed(2);
console.log(`total ${med(0)} setup ${med(1)} run ${med(2)} teardown ${med(3)} (median of ${n})`);
await runner.close();
