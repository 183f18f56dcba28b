// The whole lifecycle of real sandboxes on the real kernel: verdicts, stats,
// limits, teardown. After every test: nothing leaked.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Runner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { jobId, SCOPE, spec, testRunner, TIME_SCALE } from '../../helpers/sandbox.ts';

const MiB = 1024 * 1024;
let runner: Runner;

before(async () => {
  runner = await testRunner();
  await runner.reconcile();
});
afterEach(() => assertNoLeaks(SCOPE));
after(() => runner.close());

describe('sandbox lifecycle', () => {
  test('hello world: output, exit 0, stats and phase timings', async () => {
    const r = await runner.run(spec({ cmd: ['echo', 'hello', 'world'] }), { jobId: jobId('hello') });
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(r.stdout, 'hello world\n');
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.image.name, 'cbtest');
    assert.match(r.image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(r.timings.setupMs > 0 && r.timings.runMs > 0 && (r.timings.collectMs ?? 0) > 0 && r.timings.teardownMs > 0, JSON.stringify(r.timings));
    assert.ok(r.stats.memoryPeakBytes > 0, 'peak memory is read from the cgroup');
  });

  test('stdin reaches the job; files are in its working directory', async () => {
    const r = await runner.run(
      spec({
        cmd: ['sh', 'run.sh'],
        stdin: 'one\ntwo\n',
        files: [{ path: 'run.sh', content: 'wc -l; cat data/x.txt; pwd; id -u', mode: 0o644 }, { path: 'data/x.txt', content: 'x' }],
      }),
      { jobId: jobId('stdin') },
    );
    assert.equal(r.verdict, 'OK', r.stderr);
    assert.equal(r.stdout, '2\nx/box\n1000\n');
  });

  test('non-zero exit code is RUNTIME_ERROR with the code', async () => {
    const r = await runner.run(spec({ cmd: ['sh', '-c', 'echo oops >&2; exit 3'] }), { jobId: jobId('exit') });
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.exitCode, 3);
    assert.equal(r.stderr, 'oops\n');
  });

  for (const [verb, sig] of [['segv', 'SIGSEGV'], ['abort', 'SIGABRT']] as const) {
    test(`a fatal ${sig} is RUNTIME_ERROR with the signal's name`, async () => {
      const r = await runner.run(spec({ cmd: ['cbfix', verb] }), { jobId: jobId(verb) });
      assert.equal(r.verdict, 'RUNTIME_ERROR');
      assert.equal(r.signal, sig);
      assert.equal(r.exitCode, null);
    });
  }

  test('a missing command is RUNTIME_ERROR saying so, not an internal error', async () => {
    const r = await runner.run(spec({ cmd: ['no-such-command', 'x'] }), { jobId: jobId('missing') });
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.match(r.message ?? '', /no-such-command: not found/);
    assert.equal(r.exitCode, 127);
  });

  test('a cpu loop ends with TIME_LIMIT at the cpu limit', async () => {
    const r = await runner.run(spec({ cmd: ['cbfix', 'cpu'], limits: { cpuMs: 300, wallMs: 10_000 } }), { jobId: jobId('cpu') });
    assert.equal(r.verdict, 'TIME_LIMIT', r.message);
    assert.ok(r.stats.cpuMs >= 300, `cpu ${r.stats.cpuMs}`);
    assert.ok(r.stats.cpuMs < 2000 * TIME_SCALE, `killed soon after the limit, cpu ${r.stats.cpuMs}`);
  });

  test('cpu time of all processes counts together', async () => {
    // Two spinning processes: each alone stays under the limit for a while.
    const r = await runner.run(
      spec({ cmd: ['sh', '-c', 'cbfix cpu & cbfix cpu & wait'], limits: { cpuMs: 400, cpus: 2, wallMs: 10_000 } }),
      { jobId: jobId('cpu2') },
    );
    assert.equal(r.verdict, 'TIME_LIMIT', r.message);
    assert.ok(r.stats.cpuMs >= 400);
  });

  test('sleeping past the wall limit is WALL_TIME_LIMIT', async () => {
    const r = await runner.run(spec({ cmd: ['sleep', '30'], limits: { wallMs: 300 } }), { jobId: jobId('sleep') });
    assert.equal(r.verdict, 'WALL_TIME_LIMIT');
    assert.ok(r.stats.wallMs >= 300 && r.stats.wallMs < 5000 * TIME_SCALE, `wall ${r.stats.wallMs}`);
    assert.ok(r.stats.cpuMs < 100 * TIME_SCALE, `cpu ${r.stats.cpuMs}`);
  });

  test('allocating past the memory limit is MEMORY_LIMIT (oom kill seen in the cgroup)', async () => {
    const r = await runner.run(spec({ cmd: ['cbfix', 'memhog', '512'], limits: { memoryBytes: 32 * MiB } }), { jobId: jobId('mem') });
    assert.equal(r.verdict, 'MEMORY_LIMIT', r.message);
    assert.equal(r.stats.oomKilled, true);
    assert.ok(r.stats.memoryPeakBytes >= 30 * MiB && r.stats.memoryPeakBytes <= 33 * MiB, `peak ${r.stats.memoryPeakBytes}`);
  });

  test('a fork bomb is held by the pids limit and the host stays usable', async () => {
    const running = runner.run(spec({ cmd: ['cbfix', 'forkbomb'], limits: { pids: 32, wallMs: 1500, cpuMs: 20_000, cpus: 1 } }), { jobId: jobId('forkbomb') });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(execFileSync('sh', ['-c', 'echo host-alive']).toString(), 'host-alive\n');
    const r = await running;
    assert.equal(r.verdict, 'WALL_TIME_LIMIT', r.message);
  });

  test('pids counts the job\'s own processes: with 1, the job runs and its first fork fails in the job', async () => {
    const one = await runner.run(spec({ cmd: ['true'], limits: { pids: 1 } }), { jobId: jobId('pids1') });
    assert.equal(one.verdict, 'OK', one.message);
    if (one.stats.pidsPeak !== null) assert.equal(one.stats.pidsPeak, 1, 'the sandbox\'s own processes are not counted');
    const fork = await runner.run(spec({ cmd: ['sh', '-c', '/bin/true && echo forked'], limits: { pids: 1 } }), { jobId: jobId('pids1fork') });
    assert.equal(fork.verdict, 'RUNTIME_ERROR', fork.message);
    assert.equal(fork.stdout, '');
  });

  test('an output flood is cut at the limit: OUTPUT_LIMIT, truncated', async () => {
    const r = await runner.run(spec({ cmd: ['cbfix', 'flood'], limits: { outputBytes: 10_000 } }), { jobId: jobId('flood') });
    assert.equal(r.verdict, 'OUTPUT_LIMIT');
    assert.equal(r.stdout.length, 10_000);
    assert.equal(r.stdoutTruncated, true);
    assert.equal(r.stderrTruncated, false);
  });

  test('filling the writable layer is DISK_LIMIT', async () => {
    const r = await runner.run(spec({ cmd: ['cbfix', 'fill', '/box/big'], limits: { diskBytes: 4 * MiB } }), { jobId: jobId('disk') });
    assert.equal(r.verdict, 'DISK_LIMIT', `${r.message} ${r.stdout}`);
    // Either the filesystem said ENOSPC or the file hit RLIMIT_FSIZE (= the layer's size) first.
    assert.ok(r.signal === 'SIGXFSZ' || /fill: No space left on device/.test(r.stdout), `${r.signal} ${r.stdout}`);
    assert.ok(r.stats.diskUsedBytes >= 3 * MiB, `disk used ${r.stats.diskUsedBytes}`);
  });

  test('children that daemonize do not outlive the job', async () => {
    const r = await runner.run(spec({ cmd: ['cbfix', 'daemon'] }), { jobId: jobId('daemon') });
    assert.equal(r.verdict, 'OK');
    assert.equal(r.stdout, 'daemon: left\n');
    // afterEach asserts no process under the job's ids is left.
  });

  test('aborting a running job kills it: CANCELLED', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await runner.run(spec({ cmd: ['sleep', '30'] }), { jobId: jobId('cancel'), signal: ac.signal });
    assert.equal(r.verdict, 'CANCELLED');
    assert.ok(r.stats.wallMs < 5000 * TIME_SCALE, `wall ${r.stats.wallMs}`);
  });

  test('an unknown image is refused before anything is made', async () => {
    await assert.rejects(runner.run(spec({ cmd: ['true'], image: 'no-such-image' }), { jobId: jobId('noimage') }), { code: 'IMAGE_NOT_FOUND' });
  });

  test('jobs run side by side, each in its own sandbox', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => runner.run(spec({ cmd: ['sh', '-c', `echo ${i} > /box/n; sleep 0.2; cat /box/n; cat /proc/self/uid_map`] }), { jobId: jobId(`par${i}`) })),
    );
    const bases = new Set<string>();
    results.forEach((r, i) => {
      assert.equal(r.verdict, 'OK', r.message);
      const [n, map] = r.stdout.split('\n');
      assert.equal(n, String(i + 1));
      bases.add((map ?? '').trim().split(/\s+/)[1] ?? '');
    });
    assert.equal(bases.size, 4, 'each running job maps to its own host id range');
  });
});
