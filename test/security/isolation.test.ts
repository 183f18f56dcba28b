// What a job can see and do: its own hostname, only `lo`, no host processes, no
// privilege outside, no mounts, ptrace, namespaces or sysrq. Each case is a
// real program in a real sandbox.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Runner } from '../../src/sandbox/runner.ts';
import { assertNoLeaks } from '../helpers/leaks.ts';
import { jobId, SCOPE, spec, testRunner } from '../helpers/sandbox.ts';

let runner: Runner;
before(async () => {
  runner = await testRunner();
});
afterEach(() => assertNoLeaks(SCOPE));
after(() => runner.close());

async function run(cmd: string[], extra: Parameters<typeof spec>[0] extends infer T ? Partial<T> : never = {}) {
  return runner.run(spec({ ...extra, cmd }), { jobId: jobId(cmd[1] ?? cmd[0] ?? 'x') });
}

describe('isolation', () => {
  test('the job has its own hostname', async () => {
    const r = await run(['hostname'], { hostname: 'judge-7' });
    assert.equal(r.stdout, 'judge-7\n');
  });

  test('only lo exists, and it is up', async () => {
    const r = await run(['sh', '-c', 'ls /sys/class/net 2>/dev/null; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "']);
    assert.equal(r.verdict, 'OK', r.stderr);
    assert.equal(r.stdout.trim(), 'lo');
  });

  test("no route to the host's loopback services", async () => {
    let connections = 0;
    const server = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await run(['cbfix', 'connect', '127.0.0.1', String(port)]);
      assert.equal(r.stdout, 'connect: Connection refused\n');
      const r2 = await run(['cbfix', 'connect', '10.0.2.2', String(port)]);
      assert.equal(r2.stdout, 'connect: Network is unreachable\n');
    } finally {
      server.close();
    }
    assert.equal(connections, 0);
  });

  test('raw sockets are refused', async () => {
    const r = await run(['cbfix', 'rawsock'], { user: { uid: 0, gid: 0 } });
    assert.equal(r.stdout, 'rawsock: Operation not permitted\n');
  });

  test('host processes are invisible', async () => {
    const r = await run(['sh', '-c', 'ls -d /proc/[0-9]* | wc -l; ps -o pid,comm']);
    const [count] = r.stdout.split('\n');
    // init (pid 1), sh, ls/wc: never the host's hundreds.
    assert.ok(Number(count) <= 4, r.stdout);
    assert.doesNotMatch(r.stdout, /node|systemd|sshd/);
  });

  test('uid 0 inside is an unprivileged host uid with no capabilities', async () => {
    const r = await run(['sh', '-c', 'id -u; cat /proc/self/uid_map; grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status'], { user: { uid: 0, gid: 0 } });
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '0');
    const [inside, outside, count] = (lines[1] ?? '').trim().split(/\s+/).map(Number);
    assert.equal(inside, 0);
    assert.ok(outside !== undefined && outside >= SCOPE.uidBase, `container root is host uid ${outside}`);
    assert.equal(count, 65536);
    for (const capLine of lines.slice(2, 7)) assert.match(capLine, /:\s+0000000000000000$/);
    assert.match(lines[7] ?? '', /NoNewPrivs:\s+1/);
    assert.match(lines[8] ?? '', /Seccomp:\s+2/);
  });

  test('the worker environment does not reach the job', async () => {
    process.env.CELLBLOCK_TEST_SECRET = 'hunter2';
    try {
      const r = await run(['env'], { env: { MINE: 'yes' } });
      assert.doesNotMatch(r.stdout, /hunter2|REDIS_URL/);
      assert.match(r.stdout, /^MINE=yes$/m);
    } finally {
      delete process.env.CELLBLOCK_TEST_SECRET;
    }
  });

  for (const [verb, expected] of [
    ['mount', 'mount: Operation not permitted'],
    ['ptrace', 'ptrace: Operation not permitted'],
    ['unshare', 'unshare: Operation not permitted'],
    ['clone-newuser', 'clone-newuser: Operation not permitted'],
  ] as const) {
    test(`${verb} is refused, even to root inside`, async () => {
      const r = await run(['cbfix', verb], { user: { uid: 0, gid: 0 } });
      assert.equal(r.stdout, `${expected}\n`);
      assert.equal(r.verdict, 'OK');
    });
  }

  test('/proc/sysrq-trigger cannot be written', async () => {
    const r = await run(['cbfix', 'sysrq'], { user: { uid: 0, gid: 0 } });
    // Kernels built without magic sysrq have no such file at all.
    const expected = fs.existsSync('/proc/sysrq-trigger') ? /^sysrq: (Read-only file system|Permission denied)\n$/ : /^sysrq: No such file or directory\n$/;
    assert.match(r.stdout, expected);
  });

  test('/proc/sys is read-only, even to root inside', async () => {
    const r = await run(['sh', '-c', 'echo 1 > /proc/sys/kernel/ns_last_pid && echo wrote'], { user: { uid: 0, gid: 0 } });
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Read-only file system/);
  });

  test('sensitive /proc files are masked', async () => {
    const present = ['kcore', 'keys', 'timer_list', 'sched_debug', 'kallsyms', 'kmsg'].filter((f) => fs.existsSync(`/proc/${f}`));
    assert.ok(present.length > 0);
    const r = await run(['sh', '-c', present.map((f) => `wc -c < /proc/${f}`).join('; ')], { user: { uid: 0, gid: 0 } });
    assert.equal(r.stdout, present.map(() => '0\n').join(''), r.stderr);
  });
});
