// Which driver detectCgroupDriver picks on fake hosts, where it puts the parents, and what
// it says when the host cannot be used.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import { FakeKernel } from './fake-kernel.ts';
import { type FakeMachine, OWN_MEMORY_PATH, v1Machine, v2Machine } from './fixtures.ts';

let machine: FakeMachine | undefined;
afterEach(() => machine?.kernel.cleanup());

function detect(m: FakeMachine, extra: { parentName?: string; mountInfo?: string } = {}) {
  machine = m;
  return detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel, ...extra });
}

describe('detectCgroupDriver', () => {
  it('picks v1 on a hybrid host and puts cellblock below the own cgroup of each hierarchy', () => {
    const m = v1Machine();
    const driver = detect(m);
    assert.equal(driver.version, 1);
    assert.deepEqual([...driver.parents].sort(), [
      join(m.fsRoot, 'blkio/cellblock'),
      join(m.fsRoot, 'cpu/cellblock'),
      join(m.fsRoot, 'cpuacct/cellblock'),
      join(m.fsRoot, 'freezer/cellblock'),
      join(m.fsRoot, `memory${OWN_MEMORY_PATH}/cellblock`),
      join(m.fsRoot, 'pids/cellblock'),
    ]);
    for (const parent of driver.parents) assert.ok(existsSync(parent), parent);
    // Nothing of ours in hierarchies we do not use.
    assert.ok(!existsSync(join(m.fsRoot, 'cpuset/cellblock')));
    assert.ok(!existsSync(join(m.fsRoot, 'unified/cellblock')));
  });

  it('treats co-mounted cpu,cpuacct as one hierarchy', () => {
    const m = v1Machine({ coMountCpu: true });
    const driver = detect(m);
    assert.equal(driver.version, 1);
    assert.equal(driver.parents.filter((p) => p.includes('cpu,cpuacct')).length, 1);
    assert.equal(driver.parents.length, 5);
  });

  it('works without blkio (io stats only)', () => {
    const driver = detect(v1Machine({ blkio: false }));
    assert.equal(driver.parents.length, 5);
  });

  it('uses the parent name it is given', () => {
    const m = v1Machine();
    const driver = detect(m, { parentName: 'cb-test' });
    assert.ok(driver.parents.every((p) => p.endsWith('/cb-test')));
  });

  it('finds v1 mounts through mountinfo, including a mount that shows only a subtree', () => {
    // A container: the memory hierarchy mounted with root /docker/abc, and /proc/self/cgroup
    // (no cgroup namespace) naming the full path /docker/abc/inner.
    const kernel = new FakeKernel();
    machine = { kernel, fsRoot: join(kernel.root, 'cg'), procSelfCgroup: '' };
    const at = (name: string) => join(kernel.root, 'mnt', name);
    for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer']) kernel.mountV1(at(c), [c]);
    kernel.mkdirp(join(at('memory'), 'inner'));
    const mountInfo = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer']
      .map((c, i) => `${40 + i} 31 0:${30 + i} ${c === 'memory' ? '/docker/abc' : '/'} ${at(c)} rw - cgroup cgroup rw,${c}`)
      .join('\n');
    const driver = detectCgroupDriver({
      fsRoot: machine.fsRoot,
      fs: kernel,
      mountInfo,
      procSelfCgroup: '5:memory:/docker/abc/inner\n4:cpu:/\n3:cpuacct:/\n2:pids:/\n1:freezer:/\n0::/\n',
    });
    assert.ok(driver.parents.includes(join(at('memory'), 'inner/cellblock')));
  });

  it('picks v2 on a pure cgroup2 host', () => {
    const m = v2Machine();
    const driver = detect(m);
    assert.equal(driver.version, 2);
    assert.deepEqual(driver.parents, [join(m.fsRoot, 'system.slice/cellblock.service/cellblock')]);
  });

  it('says what is missing when v1 lacks a controller', () => {
    assert.throws(() => detect(v1Machine({ omit: ['pids', 'freezer'] })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CGROUP_UNAVAILABLE');
      assert.match(err.message, /pids, freezer are not mounted/);
      assert.match(err.message, /Fix: /);
      return true;
    });
  });

  it('says what is missing when cgroup2 has no controllers and there is no v1', () => {
    const kernel = new FakeKernel();
    const fsRoot = join(kernel.root, 'sys/fs/cgroup');
    kernel.mountV2(fsRoot, ['hugetlb']);
    assert.throws(
      () => detect({ kernel, fsRoot, procSelfCgroup: '0::/\n' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CGROUP_UNAVAILABLE');
        assert.match(err.message, /lacks the memory, cpu, pids controller/);
        return true;
      },
    );
  });

  it('reports v2 delegation problems instead of falling back', () => {
    assert.throws(() => detect(v2Machine({ delegated: ['cpu'] })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CGROUP_UNAVAILABLE');
      assert.match(err.message, /memory, pids are not delegated .*Delegate=yes/);
      return true;
    });
  });

  it('refuses a parent name that is not a plain name', () => {
    assert.throws(() => detect(v1Machine(), { parentName: '../x' }), { code: 'CGROUP_FAILED' });
  });
});
