import { createRunner } from '../src/sandbox/runner.ts';
import { createLogger } from '../src/log.ts';
const silentLogger = createLogger('warn');
import { prepareTestImage, spec } from '../test/helpers/sandbox.ts';
import { leftovers } from '../test/helpers/leaks.ts';

const SCOPE = { stateDir: '/var/lib/cellblock-sec', cgroupParent: 'cellblock-sec', uidBase: 0x5d000000, uidRanges: 16 };
await prepareTestImage();
const runner = await createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared: 3 });
await new Promise((r) => setTimeout(r, 500));
let n = 0;
const run = (cmd: string[], extra: any = {}) => runner.run(spec({ cmd, user: { uid: 0, gid: 0 }, limits: { wallMs: 4000, ...(extra.limits ?? {}) }, ...extra }), { jobId: `sec4-${++n}` });
const brief = (r: any) => `${r.verdict} code=${r.exitCode} sig=${r.signal} wall=${r.stats.wallMs} msg=${r.message ?? ''} out=${JSON.stringify(r.stdout.slice(0, 120))} trunc=${r.stdoutTruncated}`;
const t = Date.now();
const rs = await Promise.all([
  run(['cbfix', 'forkbomb']),
  run(['sh', '-c', 'sleep 0.3; kill -9 -1; echo survived']),
  run(['cbfix', 'memhog', '512'], { limits: { memoryBytes: 64 << 20 } }),
  run(['sh', '-c', 'for i in 1 2 3 4 5; do sleep 0.2; done; echo normal; ps']),
  run(['sh', '-c', '(yes &); (setsid sh -c "exec yes >&2" &); sleep 0.2; exit 3'], { limits: { outputBytes: 1 << 20 } }),
  run(['cbfix', 'threadbomb']),
  run(['cbfix', 'pipes']),
  run(['cbfix', 'daemon']),
  run(['cbfix', 'stop-self']),
  run(['cbfix', 'sleepers', '5']),
]);
rs.forEach((r, i) => console.log(i, brief(r)));
console.log('total ms', Date.now() - t);
// after hostile jobs, prepared sandboxes still fine
const ok = await Promise.all([1, 2, 3].map(() => run(['sh', '-c', 'echo fine; ls /proc | grep -c "^[0-9]"'])));
ok.forEach((r) => console.log('after', brief(r)));
await runner.close();
console.log('leftovers', leftovers(SCOPE));
await new Promise((r) => setTimeout(r, 3000));
console.log('leftovers 3s', leftovers(SCOPE));
