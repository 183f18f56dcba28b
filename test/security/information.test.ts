// Information: what a job can learn about the host. Its own hostname, its own
// processes and mounts only; no host path, no worker environment, nothing of
// pid 1 (the launcher) beyond its name.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TEST_STATE_DIR } from '../helpers/sandbox.ts';
import { ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);

describe('information', () => {
  test('the job sees only its own mounts, and they name no host path', async () => {
    const r = await run(['cat', '/proc/self/mountinfo']);
    assert.equal(r.verdict, 'OK');
    const points = r.stdout.trim().split('\n').map((l) => l.split(' ')[4] ?? '');
    for (const p of points) assert.match(p, /^\/(proc(\/.*)?|dev(\/.*)?)?$/, `mount point ${p}`);
    assert.ok(!r.stdout.includes(TEST_STATE_DIR), 'the state directory shows');
    assert.doesNotMatch(r.stdout, /\/var\/lib|\/work\/|\/home\//);
  });

  test("pid 1's command line names no host path; its environment is closed", async () => {
    const r = await run(['sh', '-c', "tr '\\0' ' ' < /proc/1/cmdline; echo; cbfix read /proc/1/environ"], ROOT);
    assert.equal(r.stdout, 'cellblock-launcher --server \nread: Permission denied\n');
  });

  test('the environment is exactly the image\'s, the spec\'s and PATH, HOME, HOSTNAME', async () => {
    process.env.CELLBLOCK_TEST_SECRET = 'hunter2';
    try {
      const own = await run(['env'], { env: { MINE: 'yes' } });
      assert.deepEqual(own.stdout.trim().split('\n').map((l) => l.split('=')[0]).sort(), ['HOME', 'HOSTNAME', 'MINE', 'PATH']);
    } finally {
      delete process.env.CELLBLOCK_TEST_SECRET;
    }
  });

  test('no host process is visible, even to root inside', async () => {
    const r = await run(['sh', '-c', 'ls -d /proc/[0-9]*'], ROOT);
    // pid 1 (the launcher's init), sh, ls: never the host's hundreds.
    assert.ok(r.stdout.trim().split('\n').length <= 3, r.stdout);
  });

  test('the kernel symbol table and the kernel log are empty', async () => {
    const r = await run(['sh', '-c', 'wc -c < /proc/kallsyms; wc -c < /proc/kmsg; dmesg 2>&1 | head -1'], ROOT);
    assert.match(r.stdout, /^0\n0\n/);
    assert.doesNotMatch(r.stdout, /Linux version/);
  });
});
