// The v2 driver against a fake kernel: delegation, limits written, stats parsed,
// kill-all with and without cgroup.kill, removal.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import type { CgroupTiming } from '../../../src/cgroup/timing.ts';
import type { V2Features } from './fake-kernel.ts';
import { type FakeMachine, v2Machine } from './fixtures.ts';

const LIMITS = { memoryBytes: 64 * 1024 * 1024, cpus: 1.5, pids: 32 };
const FAST: Partial<CgroupTiming> = { killTimeoutMs: 300, freezeTimeoutMs: 50, rmdirTimeoutMs: 50 };

let machine: FakeMachine | undefined;
afterEach(() => machine?.kernel.cleanup());

type Opts = Parameters<typeof v2Machine>[0];
function setup(opts: Opts = {}) {
  const m = v2Machine(opts);
  machine = m;
  const driver = detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel, timing: FAST });
  return { m, driver, parent: join(m.ownDir, 'cellblock') };
}

const read = (path: string): string => readFileSync(path, 'utf8').trim();

describe('v2 delegation', () => {
  it('moves the processes of its own cgroup into a leaf, then enables controllers in X and X/cellblock', () => {
    const { m, parent } = setup({ procs: [11, 12] });
    const leaf = join(m.ownDir, 'cellblock-worker');
    assert.deepEqual(m.kernel.processesIn(m.fsRoot), new Map([[leaf, [11, 12]]]));
    assert.deepEqual(read(join(m.ownDir, 'cgroup.subtree_control')).split(' ').sort(), ['cpu', 'io', 'memory', 'pids']);
    assert.deepEqual(read(join(parent, 'cgroup.subtree_control')).split(' ').sort(), ['cpu', 'io', 'memory', 'pids']);
    // The only writes outside what we created: X's subtree_control.
    const ours = [leaf, parent].map((d) => `${d}/`);
    for (const w of m.kernel.writes) {
      assert.ok(
        w.path === join(m.ownDir, 'cgroup.subtree_control') || ours.some((p) => w.path.startsWith(p)),
        `unexpected write to ${w.path}`,
      );
    }
  });

  it('does not touch X when the controllers are already enabled there', () => {
    const m = v2Machine({ procs: [] });
    m.kernel.writeFile(join(m.ownDir, 'cgroup.subtree_control'), '+cpu +io +memory +pids');
    m.kernel.writes.length = 0;
    machine = m;
    detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel });
    assert.ok(!m.kernel.writes.some((w) => w.path.startsWith(`${m.ownDir}/cgroup.`)));
    assert.ok(!existsSync(join(m.ownDir, 'cellblock-worker')));
  });

  it('leaves processes in the real root cgroup, which is exempt from the internal-process rule', () => {
    const { m, driver } = setup({ ownPath: '/', procs: [1, 2] });
    assert.deepEqual(m.kernel.processesIn(m.fsRoot), new Map([[m.fsRoot, [1, 2]]]));
    assert.deepEqual(driver.parents, [join(m.fsRoot, 'cellblock')]);
  });

  it('a worker restarted inside the leaf uses the leaf parent, not a nested one', () => {
    const m = v2Machine({ procs: [11] });
    detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel });
    machine = m;
    const driver = detectCgroupDriver({
      fsRoot: m.fsRoot,
      procSelfCgroup: '0::/system.slice/cellblock.service/cellblock-worker\n',
      fs: m.kernel,
    });
    assert.deepEqual(driver.parents, [join(m.ownDir, 'cellblock')]);
  });

  it('runs without io when the host does not delegate it', () => {
    const { m, driver } = setup({ delegated: ['cpu', 'memory', 'pids'] });
    assert.deepEqual(read(join(m.ownDir, 'cellblock/cgroup.subtree_control')).split(' ').sort(), ['cpu', 'memory', 'pids']);
    const job = driver.create('test-noio', LIMITS);
    assert.equal(job.stats().ioReadBytes, 0);
  });

  it('retries when a process appears between the move and the enable', () => {
    const m = v2Machine({ procs: [11] });
    machine = m;
    let raced = false;
    const real = m.kernel.writeFile.bind(m.kernel);
    m.kernel.writeFile = (path, data) => {
      if (!raced && path === join(m.ownDir, 'cgroup.subtree_control')) {
        raced = true;
        m.kernel.addProcess(m.ownDir, 13); // forked into X meanwhile
      }
      real(path, data);
    };
    const driver = detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel });
    assert.equal(driver.version, 2);
    assert.deepEqual(m.kernel.processesIn(m.ownDir), new Map([[join(m.ownDir, 'cellblock-worker'), [11, 13]]]));
  });
});

describe('v2 job cgroups', () => {
  it('creates the job with memory.max, no swap, cpu.max and pids.max', () => {
    const { driver, parent } = setup({ procs: [11] });
    const job = driver.create('test-c', LIMITS);
    const dir = join(parent, 'test-c');
    assert.deepEqual(job.dirs, [dir]);
    assert.equal(read(join(dir, 'memory.max')), String(LIMITS.memoryBytes));
    assert.equal(read(join(dir, 'memory.swap.max')), '0');
    assert.equal(read(join(dir, 'cpu.max')), '150000 100000');
    assert.equal(read(join(dir, 'pids.max')), '32');
    assert.throws(() => driver.create('test-c', LIMITS), /EEXIST.*crashed worker/);
  });

  it('skips memory.swap.max when the kernel has no swap accounting', () => {
    const { driver, parent } = setup({ features: { swapMax: false } });
    driver.create('test-noswap', LIMITS);
    assert.ok(!existsSync(join(parent, 'test-noswap/memory.swap.max')));
  });

  it('reads cpu.stat, memory.peak, memory.events, pids.peak and io.stat', () => {
    const { m, driver, parent } = setup();
    const job = driver.create('test-s', LIMITS);
    const dir = join(parent, 'test-s');
    m.kernel.set(join(dir, 'cpu.stat'), 'usage_usec 3500\nuser_usec 2000\nsystem_usec 1500\nnr_periods 7\n');
    m.kernel.set(join(dir, 'memory.peak'), '67108864\n');
    m.kernel.set(join(dir, 'memory.current'), '4096\n');
    m.kernel.set(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n');
    m.kernel.set(join(dir, 'pids.peak'), '17\n');
    m.kernel.set(join(dir, 'io.stat'), '8:0 rbytes=4096 wbytes=1024 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n');
    assert.equal(job.cpuUsageUs(), 3500);
    assert.deepEqual(job.stats(), {
      cpuUserUs: 2000,
      cpuSystemUs: 1500,
      memoryPeakBytes: 67108864,
      memoryPeakSource: 'memory.peak',
      oomKills: 1,
      pidsPeak: 17,
      ioReadBytes: 4097,
      ioWriteBytes: 1026,
    });
  });

  it('falls back to memory.current and a null pids peak on older kernels', () => {
    const { m, driver, parent } = setup({ features: { memoryPeak: false, pidsPeak: false } });
    const job = driver.create('test-old', LIMITS);
    m.kernel.set(join(parent, 'test-old/memory.current'), '8192\n');
    const stats = job.stats();
    assert.equal(stats.memoryPeakBytes, 8192);
    assert.equal(stats.memoryPeakSource, 'memory.current');
    assert.equal(stats.pidsPeak, null);
  });

  for (const [label, features] of [
    ['cgroup.kill', {}],
    ['freeze + SIGKILL (pre-5.14)', { cgroupKill: false }],
    ['plain SIGKILL (pre-5.2)', { cgroupKill: false, cgroupFreeze: false }],
  ] as [string, V2Features][]) {
    it(`killAll empties the cgroup and its children via ${label}`, async () => {
      const { m, driver, parent } = setup({ features });
      const job = driver.create('test-k', LIMITS);
      m.kernel.addProcess(join(parent, 'test-k'), 200);
      m.kernel.mkdir(join(parent, 'test-k/inner'));
      m.kernel.addProcess(join(parent, 'test-k/inner'), 201);
      assert.deepEqual(job.pids(), [200, 201]);
      await job.killAll();
      assert.deepEqual(job.pids(), []);
      assert.equal(read(join(parent, 'test-k/cgroup.events')), 'populated 0\nfrozen 0');
      assert.deepEqual(m.kernel.signals.map((s) => s.pid).sort(), [200, 201]);
      const kills = m.kernel.writes.filter((w) => w.path.endsWith('cgroup.kill'));
      assert.equal(kills.length, features.cgroupKill === false ? 0 : 1);
    });
  }

  it('killAll gives up with the surviving pids named', async () => {
    const { m, driver, parent } = setup();
    const job = driver.create('test-stuck', LIMITS);
    m.kernel.addProcess(join(parent, 'test-stuck'), 300);
    m.kernel.unkillable.add(300);
    await assert.rejects(job.killAll(), /processes 300 still in job cgroup/);
    m.kernel.exit(300);
  });

  it('remove kills, removes the job and its children, and is idempotent', async () => {
    const { m, driver, parent } = setup();
    const job = driver.create('test-r', LIMITS);
    m.kernel.mkdir(join(parent, 'test-r/a'));
    m.kernel.mkdir(join(parent, 'test-r/a/b'));
    m.kernel.addProcess(join(parent, 'test-r/a/b'), 400);
    await job.remove();
    assert.ok(!existsSync(join(parent, 'test-r')));
    await job.remove();
    assert.deepEqual(driver.list(), []);
  });

  it('lists and opens jobs for reconcile', async () => {
    const { driver } = setup();
    driver.create('test-l2', LIMITS);
    driver.create('test-l1', LIMITS);
    assert.deepEqual(driver.list(), ['test-l1', 'test-l2']);
    for (const name of driver.list()) await driver.open(name).remove();
    assert.deepEqual(driver.list(), []);
  });
});
