import { createRunner } from '../src/sandbox/runner.ts';
import { silentLogger } from '../src/log.ts';
import { prepareTestImage, spec } from '../test/helpers/sandbox.ts';
import { leftovers } from '../test/helpers/leaks.ts';
import fs from 'node:fs';
import { execSync } from 'node:child_process';

const SCOPE = { stateDir: '/var/lib/cellblock-sec', cgroupParent: 'cellblock-sec', uidBase: 0x5d000000, uidRanges: 16 };
await prepareTestImage();
const runner = await createRunner({ stateDir: SCOPE.stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared: 2 });
await new Promise((r) => setTimeout(r, 500));
const running = runner.run(spec({ cmd: ['sleep', '2'] }), { jobId: 'secfd' });
await new Promise((r) => setTimeout(r, 700));
const show = (pid: string) => {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const name = /Name:\s*(.*)/.exec(st)![1]; const uid = /Uid:\s*(.*)/.exec(st)![1]; const ppid = /PPid:\s*(.*)/.exec(st)![1];
  const fds = fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return f + '->' + fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return f; } });
  console.log(pid, ppid, name, uid, fds.join(' '));
};
console.log('node', process.pid);
show(String(process.pid));
const walk = (pid: string, depth = 0) => {
  const kids = execSync(`cat /proc/${pid}/task/*/children`).toString().trim().split(/\s+/).filter(Boolean);
  for (const k of kids) { process.stdout.write('  '.repeat(depth)); show(k); walk(k, depth + 1); }
};
walk(String(process.pid));
await running;
await runner.close();
console.log('leftovers', leftovers(SCOPE));
