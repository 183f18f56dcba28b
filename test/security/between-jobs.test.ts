// Isolation between jobs running at the same time: neither can see, signal,
// ptrace or read the other's processes and files, reach its sockets or SysV
// IPC; each runs under host ids no other running job has.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { SCOPE } from '../helpers/sandbox.ts';
import { ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);
const pause = (ms: number) => `sleep ${ms / 1000}`;

describe('between jobs', () => {
  test('a job cannot see, signal or ptrace a neighbour, nor find its files', async () => {
    const victim = run(['sh', '-c', `echo secret > /tmp/victim-file; cbfix sleepers 3 >/dev/null; ${pause(1500)}; cat /tmp/victim-file`], ROOT);
    await new Promise((r) => setTimeout(r, 300));
    const attacker = await run(['sh', '-c', [
      'ls /proc | grep -c "^[0-9]"',
      'find / -name victim-file 2>/dev/null | wc -l',
      'for p in 2 3 4 5 6 7 8 9 10; do cbfix ptrace $p; done | sort -u',
      'cbfix kill -1 9',
    ].join('; ')], ROOT);
    const v = await victim;
    assert.equal(v.verdict, 'OK', v.message);
    assert.equal(v.stdout, 'secret\n');
    const [procs, found, ...rest] = attacker.stdout.trim().split('\n');
    assert.ok(Number(procs) <= 6, `the attacker sees ${procs} processes`);
    assert.equal(found, '0');
    assert.deepEqual(rest, ['ptrace: Operation not permitted', 'kill: No such process']);
  });

  test("a neighbour's abstract unix socket is out of reach", async () => {
    const listener = run(['cbfix', 'abstract-listen', 'shared-name', '2']);
    await new Promise((r) => setTimeout(r, 400));
    const other = await run(['cbfix', 'abstract', 'shared-name']);
    const l = await listener;
    assert.equal(l.stdout, 'abstract-listen: ok\n');
    assert.equal(other.stdout, 'abstract: Connection refused\n');
  });

  test("a neighbour's SysV shared memory is invisible", async () => {
    const owner = run(['cbfix', 'shm-create', '4242', '2']);
    await new Promise((r) => setTimeout(r, 400));
    const other = await run(['cbfix', 'shm-get', '4242']);
    const o = await owner;
    assert.match(o.stdout, /^shm-create: ok$/m);
    assert.equal(other.stdout, 'shm-get: No such file or directory\n');
  });

  test('jobs running at once each have a host uid range of their own, seen from the host', async () => {
    const jobs = [1, 2, 3].map(() => run(['sh', '-c', 'cat /proc/self/uid_map; sleep 1'], ROOT));
    await new Promise((r) => setTimeout(r, 500));
    // From the host: the uids of the processes running under test ranges.
    const hostUids = new Set<number>();
    for (const name of fs.readdirSync('/proc')) {
      try {
        const uid = Number(/^Uid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] ?? -1);
        if (uid >= SCOPE.uidBase && uid < SCOPE.uidBase + SCOPE.uidRanges * 65536) hostUids.add(Math.floor((uid - SCOPE.uidBase) / 65536));
      } catch {
        // gone
      }
    }
    const results = await Promise.all(jobs);
    const bases = new Set(results.map((r) => r.stdout.trim().split(/\s+/)[1]));
    assert.equal(bases.size, 3, 'three jobs, three ranges');
    assert.equal(hostUids.size, 3, `host sees ranges ${[...hostUids].join(', ')}`);
    for (const b of bases) assert.ok(Number(b) >= SCOPE.uidBase && Number(b) !== 0);
  });
});
