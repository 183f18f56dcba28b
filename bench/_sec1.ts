import { createRunner } from '../src/sandbox/runner.ts';
import { silentLogger } from '../src/log.ts';
import { prepareTestImage, spec } from '../test/helpers/sandbox.ts';
import { leftovers } from '../test/helpers/leaks.ts';
import fs from 'node:fs';

const SCOPE = { stateDir: '/var/lib/cellblock-sec', cgroupParent: 'cellblock-sec', uidBase: 0x5d000000, uidRanges: 16 };
await prepareTestImage();
const runner = await createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared: 2 });
await new Promise((r) => setTimeout(r, 500));
// memory of prepared cgroups
for (const d of fs.readdirSync('/sys/fs/cgroup/memory').filter(()=>true)) {}
const sh = (s: string, extra: any = {}) => runner.run(spec({ cmd: ['sh', '-c', s], user: { uid: 0, gid: 0 }, ...extra }), { jobId: 'sec' + Math.random().toString(36).slice(2, 8) });
const r = await sh('ls -la /proc/self/fd /proc/1/fd 2>&1; echo ---; cat /proc/1/status | head -12; echo; tr "\\0" " " </proc/1/cmdline; echo; cat /proc/1/stat; echo; cat /proc/self/stat; echo; cat /proc/uptime; ls /proc; cat /proc/self/cgroup; cat /proc/1/environ 2>&1 | head -c 200; ls -l /proc/1/exe /proc/1/cwd /proc/1/root 2>&1; cat /proc/1/maps 2>&1 | head -3; cat /proc/1/mountinfo | head -3');
console.log(r.verdict, r.stdout, r.stderr);
await runner.close();
console.log('leftovers', leftovers(SCOPE));
