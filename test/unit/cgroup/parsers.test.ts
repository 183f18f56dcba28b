// The kernel file formats the drivers read, on text copied from real hosts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlatKeyed, parseNestedKeyed } from '../../../src/cgroup/files.ts';
import { assertLimits, cpuQuotaUs } from '../../../src/cgroup/limits.ts';
import { parseCgroupMounts } from '../../../src/cgroup/mountinfo.ts';
import { assertCgroupName } from '../../../src/cgroup/names.ts';
import { parseProcSelfCgroup } from '../../../src/cgroup/proc-self-cgroup.ts';
import { parseServiceBytes } from '../../../src/cgroup/v1/blkio.ts';
import { parseIoStat } from '../../../src/cgroup/v2/io.ts';

describe('parseProcSelfCgroup', () => {
  it('reads v1 lines, co-mounted controllers and the v2 line', () => {
    const entries = parseProcSelfCgroup(
      '9:name=systemd:/\n4:memory:/process_api/df60\n2:cpu,cpuacct:/a:b\n0::/\n',
    );
    assert.deepEqual(entries, [
      { hierarchyId: 9, controllers: ['name=systemd'], path: '/' },
      { hierarchyId: 4, controllers: ['memory'], path: '/process_api/df60' },
      { hierarchyId: 2, controllers: ['cpu', 'cpuacct'], path: '/a:b' },
      { hierarchyId: 0, controllers: [], path: '/' },
    ]);
  });

  it('skips garbage lines', () => {
    assert.deepEqual(parseProcSelfCgroup('\nnonsense\nx:memory:/\n'), []);
  });
});

describe('parseCgroupMounts', () => {
  it('keeps cgroup and cgroup2 mounts with their roots and super options', () => {
    const text = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '40 31 0:37 /docker/abc /sys/fs/cgroup/cpu\\040acct rw shared:5 - cgroup cgroup rw,cpu,cpuacct',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    assert.deepEqual(parseCgroupMounts(text), [
      { fsType: 'cgroup', root: '/', mountPoint: '/sys/fs/cgroup/memory', superOptions: ['rw', 'memory'] },
      { fsType: 'cgroup', root: '/docker/abc', mountPoint: '/sys/fs/cgroup/cpu acct', superOptions: ['rw', 'cpu', 'cpuacct'] },
      { fsType: 'cgroup2', root: '/', mountPoint: '/sys/fs/cgroup/unified', superOptions: ['rw'] },
    ]);
  });
});

describe('flat and nested keyed files', () => {
  it('parses memory.oom_control and cpu.stat', () => {
    const oom = parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    assert.equal(oom.get('oom_kill'), 3);
    const stat = parseFlatKeyed('usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n');
    assert.equal(stat.get('system_usec'), 234);
  });

  it('parses io.stat lines with any keys in any order', () => {
    const text =
      '8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n' +
      '8:0 wbytes=299008000 rbytes=90430464 rios=8950 wios=1252 dbytes=50331648 dios=3021 cost.wait=1\n';
    assert.equal(parseNestedKeyed(text)[1]?.fields.get('cost.wait'), '1');
    assert.deepEqual(parseIoStat(text), { readBytes: 1459200 + 90430464, writeBytes: 314773504 + 299008000 });
    assert.deepEqual(parseIoStat(''), { readBytes: 0, writeBytes: 0 });
  });

  it('sums blkio Read and Write over devices, ignoring Total and other ops', () => {
    const text = [
      '8:0 Read 4096',
      '8:0 Write 8192',
      '8:0 Sync 12288',
      '8:0 Async 0',
      '8:0 Discard 0',
      '8:0 Total 12288',
      '253:1 Read 100',
      '253:1 Write 1',
      'Total 12389',
    ].join('\n');
    assert.deepEqual(parseServiceBytes(text), { readBytes: 4196, writeBytes: 8193 });
  });
});

describe('names and limits', () => {
  it('accepts plain names and refuses paths, dots and empties', () => {
    assertCgroupName('test-3f9a_Z');
    for (const bad of ['', '..', 'a/b', 'memory.max', 'tasks', 'x'.repeat(129), 'sp ace']) {
      assert.throws(() => assertCgroupName(bad), { code: 'CGROUP_FAILED' }, bad);
    }
  });

  it('refuses non-positive or non-integer limits with one message naming each', () => {
    assertLimits({ memoryBytes: 1 << 20, cpus: 0.25, pids: 10 });
    assert.throws(() => assertLimits({ memoryBytes: 0, cpus: Number.NaN, pids: 1.5 }), (err: Error) => {
      assert.match(err.message, /memoryBytes=0, cpus=NaN, pids=1.5/);
      return true;
    });
  });

  it('turns cores into a CFS quota per 100 ms, at least 1 ms', () => {
    assert.equal(cpuQuotaUs(1), 100_000);
    assert.equal(cpuQuotaUs(2.5), 250_000);
    assert.equal(cpuQuotaUs(0.001), 1_000);
  });
});
