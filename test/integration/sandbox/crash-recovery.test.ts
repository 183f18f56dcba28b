// A worker SIGKILLed mid-job: its sandbox's processes die with it (parent-death
// signals down the launcher's chain, then the pid namespace), its mounts vanish
// with its mount namespaces, and what stays on disk and in cgroupfs is found and
// removed by the next worker's reconcile, without touching live sandboxes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import { jobsDirIn } from '../../../src/sandbox/run-dir.ts';
import type { Runner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks, leftovers } from '../../helpers/leaks.ts';
import { jobId, SCOPE, spec, TEST_IMAGE, TEST_STATE_DIR, testRunner, scopeEnv } from '../../helpers/sandbox.ts';

const CLI = fileURLToPath(new URL('../../../bin/cellblock', import.meta.url));
const JOBS = jobsDirIn(TEST_STATE_DIR);

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let runner: Runner;
before(async () => {
  runner = await testRunner();
  await runner.reconcile();
});
after(() => runner.close());

test('a SIGKILLed worker leaves no process, and reconcile removes the rest', async () => {
  const worker = spawn(CLI, ['run', '--image', TEST_IMAGE, '--', 'sleep', '60'], {
    env: { ...process.env, ...scopeEnv() },
    stdio: 'ignore',
  });
  const exited = new Promise((r) => worker.on('exit', r));
  // Running: a process under the job's host ids exists.
  await until('the job to run', () => leftovers(SCOPE).some((p) => p.startsWith('processes:') && /sleep/.test(p)));
  worker.kill('SIGKILL');
  await exited;
  await until('the job processes to die with the worker', () => !leftovers(SCOPE).some((p) => p.startsWith('processes:')), 5000);

  const left = leftovers(SCOPE);
  assert.ok(left.some((p) => p.startsWith('run/jobs/')), `job dir left: ${left.join('; ')}`);
  assert.ok(left.some((p) => p.startsWith('job cgroups:')), 'cgroup left');
  assert.ok(!left.some((p) => p.startsWith('mounts:')), 'no mount is ever visible on the host');

  const report = await runner.reconcile();
  assert.equal(report.jobDirsRemoved, 1);
  assert.equal(report.cgroupsRemoved, 1);
  await assertNoLeaks(SCOPE);
});

test('reconcile kills what is still running in a dead worker\'s cgroup, and spares live jobs', async () => {
  const cgroups = detectCgroupDriver({ parentName: SCOPE.cgroupParent });
  // A leftover as a crash could leave it: a job dir whose owner is dead, and its cgroup with a process in it.
  const deadId = jobId('dead');
  fs.mkdirSync(path.join(JOBS, deadId));
  fs.writeFileSync(path.join(JOBS, deadId, 'owner'), '999999 1\n');
  const cg = cgroups.create(deadId, { memoryBytes: 64 << 20, cpus: 1, pids: 8 });
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  const sleeperExit = new Promise((r) => sleeper.on('exit', r));
  for (const f of cg.dirs.map((d) => path.join(d, 'cgroup.procs'))) fs.writeFileSync(f, String(sleeper.pid));

  // A live job of this process meanwhile.
  const live = runner.run(spec({ cmd: ['sleep', '1'] }), { jobId: jobId('live') });
  await until('the live job to start', () => leftovers(SCOPE).some((p) => p.startsWith('processes:') && /sleep/.test(p)));

  const report = await runner.reconcile();
  assert.deepEqual(report, { jobDirsRemoved: 1, cgroupsRemoved: 1, processesKilled: 1 });
  await sleeperExit;
  const r = await live;
  assert.equal(r.verdict, 'OK', 'the live job was not touched');
  await assertNoLeaks(SCOPE);
});
