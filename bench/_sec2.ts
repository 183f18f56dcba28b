import { createRunner } from '../src/sandbox/runner.ts';
import { silentLogger } from '../src/log.ts';
import { prepareTestImage, spec } from '../test/helpers/sandbox.ts';
import { leftovers } from '../test/helpers/leaks.ts';
import fs from 'node:fs';

const SCOPE = { stateDir: '/var/lib/cellblock-sec', cgroupParent: 'cellblock-sec', uidBase: 0x5d000000, uidRanges: 16 };
await prepareTestImage();
const mk = (prepared: number) => createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared });
let runner = await mk(2);
const sh = (s: string, extra: any = {}, signal?: AbortSignal) => runner.run(spec({ cmd: ['sh', '-c', s], user: { uid: 0, gid: 0 }, ...extra }), { jobId: 'sec' + Math.random().toString(36).slice(2, 8), signal });
const brief = (r: any) => ({ v: r.verdict, code: r.exitCode, sig: r.signal, msg: r.message, out: r.stdout.slice(0, 200), err: r.stderr.slice(0, 200), wall: r.stats.wallMs, mem: r.stats.memoryPeakBytes, cpu: r.stats.cpuMs, setup: r.timings.setupMs });
await new Promise((r) => setTimeout(r, 500));
// prepared cgroup memory
const memRoot = '/sys/fs/cgroup/memory';
const own = fs.readFileSync('/proc/self/cgroup', 'utf8').match(/memory:(.*)/)![1];
const parent = `${memRoot}${own}/cellblock-sec`;
for (const d of fs.readdirSync(parent).filter((n) => fs.statSync(`${parent}/${n}`).isDirectory())) {
  console.log('prepared', d, fs.readFileSync(`${parent}/${d}/memory.usage_in_bytes`, 'utf8').trim(), fs.readFileSync(`${parent}/${d}/cgroup.procs`, 'utf8').trim().split('\n').length);
}
console.log('A mem4', brief(await sh('true', { limits: { memoryBytes: 4 * 1024 * 1024 } })));
console.log('A pids1', brief(await sh('true', { limits: { pids: 1 } })));
console.log('A pids3', brief(await sh('true', { limits: { pids: 3 } })));
const env: Record<string, string> = {};
for (let i = 0; i < 3000; i++) env[`V${i}`] = 'x'.repeat(100);
console.log('B bigcfg', brief(await sh('env | wc -l; wc -c', { env, stdin: 'y'.repeat(3 * 1024 * 1024) })));
console.log('B bigstdin-unread', brief(await sh('echo hi', { stdin: 'y'.repeat(3 * 1024 * 1024) })));
console.log('B bigargs', brief(await runner.run(spec({ cmd: ['sh', '-c', 'echo $#', 'x', ...Array.from({ length: 3000 }, (_, i) => 'a'.repeat(100) + i)] }), { jobId: 'secargs' })));
let t = Date.now();
console.log('D daemon', brief(await sh('(setsid sleep 1000 &); (sleep 1000 </dev/null &) ; echo hi')), Date.now() - t);
t = Date.now();
console.log('E conc', (await Promise.all([1, 2, 3, 4].map((i) => sh(`cat /proc/self/uid_map; id`)))).map((r) => r.verdict + ' ' + r.stdout.replace(/\s+/g, ' ')), Date.now() - t);
for (const delay of [-1, 0, 1, 3, 5, 10, 20, 50]) {
  const ac = new AbortController();
  if (delay < 0) ac.abort(); else setTimeout(() => ac.abort(), delay);
  const r = await sh('cbfix cpu', { limits: { wallMs: 3000 } }, ac.signal);
  console.log('F cancel', delay, brief(r));
}
await runner.close();
console.log('leftovers after close', leftovers(SCOPE));
runner = await mk(2);
await runner.close();
console.log('C leftovers right after immediate close', leftovers(SCOPE));
await new Promise((r) => setTimeout(r, 1500));
console.log('C leftovers 1.5s later', leftovers(SCOPE));
