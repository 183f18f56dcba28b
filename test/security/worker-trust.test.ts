// The worker trusts nothing the job wrote: verdicts come from the kernel (wait
// status, cgroup counters, statfs), the report pipe is out of the job's reach,
// links the job plants lead teardown nowhere, and a job's own mistakes are
// reported as its own, never as ours (INTERNAL_ERROR).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SCOPE } from '../helpers/sandbox.ts';
import { CANARY_DIR, ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);

describe('the worker trusts nothing the job wrote', () => {
  test('a forged report line cannot reach the report pipe: the verdict is the real exit', async () => {
    const r = await run(['sh', '-c', 'cbfix forge-report; exit 3'], ROOT);
    assert.equal(r.stdout, 'forge-report: Permission denied\nforge-report: opened 0\n');
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.exitCode, 3);
  });

  test('report lines printed on stdout and stderr are just output', async () => {
    const fake = 'exited mono_ns=1 status=0 utime_us=0 stime_us=0 maxrss_kb=0\\ndone disk_used=0 disk_free=0 inodes_used=0 inodes_free=0\\n';
    const r = await run(['sh', '-c', `printf '${fake}'; printf '${fake}' >&2; exit 4`]);
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.exitCode, 4);
  });

  test('SIGXCPU the job sends itself is not TIME_LIMIT', async () => {
    const r = await run(['cbfix', 'raise', '24']);
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.signal, 'SIGXCPU');
  });

  test('SIGXFSZ the job sends itself is not DISK_LIMIT', async () => {
    const r = await run(['cbfix', 'raise', '25']);
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.signal, 'SIGXFSZ');
  });

  test('symlinks and hardlinks planted everywhere the job can write lead teardown nowhere', async () => {
    const host = [CANARY_DIR, path.join(CANARY_DIR, 'secret'), SCOPE.stateDir, path.join(SCOPE.stateDir, 'images'), '/', '/etc/passwd'];
    const plant = host.map((t, i) => `ln -s ${t} /box/l${i}; ln -s ${t} /tmp/l${i}; ln -s ${t} /dev/shm/l${i}`).join('; ');
    const r = await run(['sh', '-c', `${plant}; ln /usr/local/bin/cbfix /tmp/hard 2>/dev/null; mkdir -p /tmp/d && ln -s / /tmp/d/root; ls /box | wc -l`], {
      files: [{ path: 'in.txt', content: 'x' }],
    });
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(r.stdout, `${host.length + 1}\n`);
    // harness: canary tree, state dir and host unchanged; the job dir is gone.
    assert.ok(fs.existsSync(path.join(SCOPE.stateDir, 'images')));
    assert.ok(fs.readFileSync('/etc/passwd', 'utf8').length > 0);
  });

  test('root inside replacing /box with a link to / changes nothing outside', async () => {
    const r = await run(['sh', '-c', 'cd / && rm -rf /box && ln -s / /box && ls -d /box/ && echo replaced'], { ...ROOT, cwd: '/' });
    assert.equal(r.verdict, 'OK', `${r.message} ${r.stderr}`);
    assert.match(r.stdout, /replaced/);
  });

  test('files a job cannot have (under /proc, two at one path, a file where a directory is) are its error, up front', async () => {
    await assert.rejects(run(['true'], { files: [{ path: '/proc/x', content: 'x' }] }), { code: 'INVALID_JOB', message: /which the sandbox provides/ });
    await assert.rejects(run(['true'], { files: [{ path: 'a', content: 'x' }, { path: '/box/a', content: 'y' }] }), { code: 'INVALID_JOB', message: /two files/ });
    await assert.rejects(run(['true'], { files: [{ path: 'a', content: 'x' }, { path: 'a/b', content: 'y' }] }), { code: 'INVALID_JOB', message: /both a file and a directory/ });
  });
});
