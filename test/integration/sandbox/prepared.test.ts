// Sandboxes prepared ahead of demand (uid range, job directory, cgroup, a
// supervisor with its namespaces made): each runs one job, a dead one is not
// used, a job that finds none ready waits for the one being prepared, a dead
// launcher server is replaced, and closing the runner leaves
// nothing. And the setup deadline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { afterEach, test } from 'node:test';
import { silentLogger } from '../../../src/log.ts';
import { createRunner, type Runner, type RunnerOptions } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks, leftovers } from '../../helpers/leaks.ts';
import { jobId, prepareTestImage, SCOPE, spec, TEST_STATE_DIR } from '../../helpers/sandbox.ts';

/** Runners a test made: closed after it even when an assertion failed first, so a failure stays in its own test. */
const opened: Runner[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.close()));
});

async function runnerWith(prepared: number, extra: Partial<RunnerOptions> = {}): Promise<Runner> {
  const runner = await createRunner({ stateDir: TEST_STATE_DIR, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared, ...extra });
  opened.push(runner);
  return runner;
}

/** Launcher processes this test process started: the server (our child) and its supervisors. */
function launchers(): { server: number[]; supervisors: number[] } {
  const server: number[] = [];
  const all: { pid: number; ppid: number }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      if (!fs.readlinkSync(`/proc/${pid}/exe`).endsWith('/cellblock-launcher')) continue;
      const ppid = Number(/^PPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      all.push({ pid, ppid });
      if (ppid === process.pid) server.push(pid);
    } catch {
      // gone
    }
  }
  return { server, supervisors: all.filter((p) => server.includes(p.ppid)).map((p) => p.pid) };
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('prepared sandboxes run one job each, and none is left after close', async () => {
  await prepareTestImage();
  const runner = await runnerWith(2);
  await settle();
  const waiting = leftovers(SCOPE);
  assert.equal(launchers().server.length, 1, 'one launcher server');
  assert.equal(launchers().supervisors.length, 2, 'two supervisors wait for jobs');
  assert.ok(waiting.some((p) => p.startsWith('job cgroups:')) && waiting.some((p) => p.startsWith('run/jobs/:')), `prepared: ${waiting.join('; ')}`);
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => runner.run(spec({ cmd: ['sh', '-c', `echo ${i}; sleep 0.2; cat /proc/self/uid_map`] }), { jobId: jobId(`warm${i}`) })));
  results.forEach((r, i) => {
    assert.equal(r.verdict, 'OK', r.message);
    assert.match(r.stdout, new RegExp(`^${i + 1}\\n`));
  });
  const hostBases = results.map((r) => r.stdout.trim().split(/\s+/)[2]);
  assert.equal(new Set(hostBases).size, 5, `jobs that ran together had distinct uid ranges: ${hostBases.join(', ')}`);
  await runner.close();
  await assertNoLeaks(SCOPE);
  assert.deepEqual(launchers(), { server: [], supervisors: [] }, 'the launcher server ended with the runner');
});

/** A runner with one prepared sandbox, whose supervisor has just been SIGKILLed. */
async function runnerWithKilledSupervisor(): Promise<{ runner: Runner; victim: number }> {
  await prepareTestImage();
  const runner = await runnerWith(1);
  await settle();
  const [victim] = launchers().supervisors;
  assert.ok(victim !== undefined, 'a supervisor waits');
  process.kill(victim, 'SIGKILL');
  return { runner, victim };
}

test('a prepared sandbox whose supervisor died is not used', async () => {
  const { runner } = await runnerWithKilledSupervisor();
  await settle();
  const r = await runner.run(spec({ cmd: ['echo', 'fresh'] }), { jobId: jobId('afterdeath') });
  assert.equal(r.verdict, 'OK', r.message);
  assert.equal(r.stdout, 'fresh\n');
  await runner.close();
  await assertNoLeaks(SCOPE);
});

/** Runs nothing of the event loop: Node cannot have seen the report pipe close meanwhile. */
function spinUntil(what: string, cond: () => boolean): void {
  const end = Date.now() + 5000;
  while (!cond()) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}
const running = (pid: number): boolean => {
  try {
    return !/^State:\s*Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

test('a prepared sandbox found dead only as its job is handed over is replaced: the job runs on another', async () => {
  const { runner, victim } = await runnerWithKilledSupervisor();
  // Gone, with every process of its sandbox (its configuration pipe has no reader),
  // while the runner still counts it as waiting: the hand-over itself finds out.
  spinUntil('the sandbox to die', () => !running(victim) && !leftovers(SCOPE).some((p) => p.startsWith('processes:')));
  const r = await runner.run(spec({ cmd: ['echo', 'second'] }), { jobId: jobId('deadathandover') });
  assert.equal(r.verdict, 'OK', r.message);
  assert.equal(r.stdout, 'second\n');
  await runner.close();
  await assertNoLeaks(SCOPE);
});

test('a job that finds no sandbox ready takes the one being prepared, not one of its own', async () => {
  await prepareTestImage();
  const records: { phase?: string; sandbox?: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as { phase?: string; sandbox?: string }) });
  // The runner starts preparing its one sandbox as it is made; the job comes long before that ends.
  const runner = await runnerWith(1, { log });
  const r = await runner.run(spec({ cmd: ['true'] }), { jobId: jobId('waits') });
  assert.equal(r.verdict, 'OK', r.message);
  const taken = records.filter((rec) => rec.phase === 'sandbox').map((rec) => rec.sandbox);
  assert.equal(taken.length, 1);
  assert.match(taken[0] ?? '', /-1$/, `the first sandbox prepared: ${taken.join(', ')}`);
  await runner.close();
  await assertNoLeaks(SCOPE);
});

test("a job that finds every uid range held by the runner's own jobs waits for one, and the pool does not retry meanwhile", async () => {
  await prepareTestImage();
  const records: { level: number; msg?: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void records.push(JSON.parse(line) as { level: number; msg?: string }) });
  const runner = await runnerWith(1, { uidRanges: 1, log });
  const first = runner.run(spec({ cmd: ['sh', '-c', 'sleep 0.3; echo first'] }), { jobId: jobId('holds') });
  await settle(100);
  const second = await runner.run(spec({ cmd: ['echo', 'second'] }), { jobId: jobId('waitsrange') });
  assert.equal(second.verdict, 'OK', second.message);
  assert.equal(second.stdout, 'second\n');
  assert.equal((await first).stdout, 'first\n');
  const failedPreparations = records.filter((r) => r.msg === 'could not prepare a sandbox ahead of demand').length;
  assert.ok(failedPreparations <= 2, `${failedPreparations} failed preparations while waiting`);
  await runner.close();
  await assertNoLeaks(SCOPE);
});

test('when the launcher server dies, its running job is an internal error and the next job gets a new server', async () => {
  await prepareTestImage();
  const runner = await runnerWith(1);
  const running = runner.run(spec({ cmd: ['sleep', '30'] }), { jobId: jobId('serverdies') });
  await settle(500);
  const [server] = launchers().server;
  assert.ok(server !== undefined);
  process.kill(server, 'SIGKILL');
  const r = await running;
  assert.equal(r.verdict, 'INTERNAL_ERROR');
  assert.ok(r.stats.wallMs < 10_000, 'ended with the server, not after 30 s');
  const next = await runner.run(spec({ cmd: ['echo', 'again'] }), { jobId: jobId('newserver') });
  assert.equal(next.verdict, 'OK', next.message);
  assert.equal(next.stdout, 'again\n');
  assert.notEqual(launchers().server[0], server, 'a new server');
  await runner.close();
  await assertNoLeaks(SCOPE);
});

test('a sandbox that does not start its job in time is killed and reported as our fault', async () => {
  await prepareTestImage();
  // 1 ms: no launcher gets that far; the kill must still land once the job has joined its cgroup.
  const runner = await runnerWith(1, { setupTimeoutMs: 1 });
  const r = await runner.run(spec({ cmd: ['sleep', '30'] }), { jobId: jobId('stuck') });
  await runner.close();
  assert.equal(r.verdict, 'INTERNAL_ERROR');
  assert.match(r.message ?? '', /did not start the job within 1 ms/);
  assert.ok(r.stats.wallMs < 5000, `killed, not left to sleep: ${r.stats.wallMs} ms`);
  await assertNoLeaks(SCOPE);
});
