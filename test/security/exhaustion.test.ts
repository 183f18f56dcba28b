// Exhaustion: a job trying to use up what the host or other jobs need, or to
// outlive its own end. Each case ends with the right verdict, promptly, and
// with no process, mount, cgroup or file left (harness.ts checks after each).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { MiB, ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);

describe('exhaustion: processes', () => {
  test('a fork bomb is held at the pids limit; the host stays usable', async () => {
    const running = run(['cbfix', 'forkbomb'], { limits: { pids: 24, wallMs: 1500 } });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(execFileSync('sh', ['-c', 'echo host-alive']).toString(), 'host-alive\n');
    const r = await running;
    assert.equal(r.verdict, 'WALL_TIME_LIMIT', r.message);
    assert.ok(r.stats.pidsPeak === null || r.stats.pidsPeak <= 24, `pids peak ${r.stats.pidsPeak}`);
  });

  test('a thread bomb is held at the pids limit (threads count as tasks)', async () => {
    const r = await run(['cbfix', 'threadbomb'], { limits: { pids: 32, wallMs: 1000 } });
    assert.equal(r.verdict, 'WALL_TIME_LIMIT');
    const threads = Number(/threadbomb: (\d+) threads/.exec(r.stdout)?.[1]);
    assert.ok(threads > 0 && threads < 32, r.stdout);
  });

  test('a process that ignores SIGTERM still ends at the wall limit', async () => {
    const r = await run(['cbfix', 'ignore-term'], { limits: { wallMs: 400 } });
    assert.equal(r.verdict, 'WALL_TIME_LIMIT');
    assert.ok(r.stats.wallMs < 3000, `wall ${r.stats.wallMs}`);
  });

  test('a job that stops itself (SIGSTOP) still ends at the wall limit', async () => {
    const r = await run(['cbfix', 'stop-self'], { limits: { wallMs: 400 } });
    assert.equal(r.verdict, 'WALL_TIME_LIMIT');
  });

  test('children that daemonize (setsid, double fork) and burn cpu do not outlive the job', async () => {
    const r = await run(['sh', '-c', 'cbfix daemon; setsid cbfix cpu & (setsid sh -c "cbfix cpu &" &); echo left'], { limits: { cpus: 2 } });
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(r.stdout, 'daemon: left\nleft\n');
    assert.ok(r.stats.wallMs < 3000);
  });

  test('sleeping children that ignore SIGTERM and SIGHUP are gone when the job ends', async () => {
    const r = await run(['cbfix', 'sleepers', '8']);
    assert.equal(r.verdict, 'OK');
    assert.equal(r.stdout, 'sleepers: left 8\n');
  });

  test('kill -9 -1 by root inside kills only the job, never pid 1: the verdict is the job\'s', async () => {
    const r = await run(['sh', '-c', 'sleep 100 & cbfix kill 1 9; cbfix kill -1 9; echo survived'], ROOT);
    assert.equal(r.verdict, 'RUNTIME_ERROR', r.message);
    assert.equal(r.signal, 'SIGKILL', 'the shell itself is among the killed');
    // pid 1 ignores what it has no handler for: the first call "succeeds" and
    // the job goes on; the second ends the job, and pid 1 reports it.
    assert.match(r.stdout, /^kill: ok\n/);
    assert.doesNotMatch(r.stdout, /survived/);
  });
});

describe('exhaustion: memory', () => {
  test('a memory bomb is MEMORY_LIMIT', async () => {
    const r = await run(['cbfix', 'memhog', '512'], { limits: { memoryBytes: 32 * MiB } });
    assert.equal(r.verdict, 'MEMORY_LIMIT', r.message);
    assert.ok(r.stats.memoryPeakBytes <= 33 * MiB);
  });

  test('memory held in a tmpfs file (the writable layer) counts: MEMORY_LIMIT', async () => {
    const r = await run(['cbfix', 'fill', '/tmp/big'], { limits: { memoryBytes: 24 * MiB, diskBytes: 256 * MiB } });
    assert.equal(r.verdict, 'MEMORY_LIMIT', `${r.message} ${r.stdout}`);
  });

  test('memory held in /dev/shm counts: MEMORY_LIMIT', async () => {
    const r = await run(['cbfix', 'fill', '/dev/shm/big'], { limits: { memoryBytes: 24 * MiB, diskBytes: 256 * MiB } });
    assert.equal(r.verdict, 'MEMORY_LIMIT', `${r.message} ${r.stdout}`);
  });

  test('pipes kept full hold the job until the wall limit, and nothing is left', async () => {
    const r = await run(['cbfix', 'pipes'], { limits: { wallMs: 1000, openFiles: 2048 } });
    assert.equal(r.verdict, 'WALL_TIME_LIMIT', r.message);
    assert.match(r.stdout, /^pipes: \d+ pipes, \d+ bytes, then Too many open files$/m);
  });
});

describe('exhaustion: disk and descriptors', () => {
  test('/dev/shm shares the writable layer\'s budget: filling it is DISK_LIMIT', async () => {
    const r = await run(['cbfix', 'fill', '/dev/shm/big'], { limits: { diskBytes: 4 * MiB } });
    assert.equal(r.verdict, 'DISK_LIMIT', `${r.message} ${r.stdout}`);
  });

  test('running out of inodes is DISK_LIMIT', async () => {
    const r = await run(['cbfix', 'inodes', '/tmp'], { limits: { diskBytes: 4 * MiB } });
    assert.equal(r.verdict, 'DISK_LIMIT', r.message);
    assert.match(r.stdout, /then No space left on device/);
  });

  test('descriptors stop at openFiles', async () => {
    const r = await run(['cbfix', 'fds'], { limits: { openFiles: 64 } });
    assert.equal(r.verdict, 'OK');
    assert.equal(r.stdout, 'fds: 61 then Too many open files\n');
  });
});

describe('exhaustion: input and output', () => {
  test('a flood on stderr is OUTPUT_LIMIT, cut at the limit', async () => {
    const r = await run(['sh', '-c', 'cbfix flood >&2'], { limits: { outputBytes: 5000 } });
    assert.equal(r.verdict, 'OUTPUT_LIMIT');
    assert.equal(r.stderr.length, 5000);
    assert.equal(r.stderrTruncated, true);
  });

  test('a huge stdin the job never reads does not hold anything up', async () => {
    const r = await run(['true'], { stdin: 'x'.repeat(8 * MiB) });
    assert.equal(r.verdict, 'OK', r.message);
  });

  test('argv past what exec takes is the job\'s error (E2BIG), not ours', async () => {
    const r = await run(['true', ...Array.from({ length: 40 }, () => 'y'.repeat(100_000))]);
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.match(r.message ?? '', /E2BIG/);
    const env = await run(['true'], { env: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`E${i}`, 'z'.repeat(100_000)])) });
    assert.match(env.message ?? '', /E2BIG/);
  });

  test('argv and env past what exec could ever take are refused up front', async () => {
    await assert.rejects(run(['true', ...Array.from({ length: 70 }, () => 'y'.repeat(100_000))]), { code: 'INVALID_JOB', message: /more than exec\(2\) ever takes/ });
  });
});
