// The v1 driver against a fake kernel: limits written, stats parsed, kill-all, removal.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { CgroupDriver } from '../../../src/cgroup/index.ts';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import type { CgroupTiming } from '../../../src/cgroup/timing.ts';
import type { V1Features } from './fake-kernel.ts';
import { type FakeMachine, OWN_MEMORY_PATH, v1Machine } from './fixtures.ts';

const LIMITS = { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 32 };
const FAST: Partial<CgroupTiming> = { killTimeoutMs: 300, freezeTimeoutMs: 50, rmdirTimeoutMs: 50 };

let machine: FakeMachine | undefined;
afterEach(() => machine?.kernel.cleanup());

function setup(opts: { features?: V1Features; coMountCpu?: boolean } = {}): { m: FakeMachine; driver: CgroupDriver } {
  const m = v1Machine(opts);
  machine = m;
  const driver = detectCgroupDriver({ fsRoot: m.fsRoot, procSelfCgroup: m.procSelfCgroup, fs: m.kernel, timing: FAST });
  m.kernel.writes.length = 0;
  return { m, driver };
}

const read = (path: string): string => readFileSync(path, 'utf8').trim();

describe('v1 driver', () => {
  it('creates the job in every hierarchy and writes the limits', () => {
    const { m, driver } = setup();
    const job = driver.create('test-a1', LIMITS);
    const mem = join(m.fsRoot, `memory${OWN_MEMORY_PATH}/cellblock/test-a1`);
    assert.equal(read(join(mem, 'memory.limit_in_bytes')), String(LIMITS.memoryBytes));
    assert.equal(read(join(mem, 'memory.memsw.limit_in_bytes')), String(LIMITS.memoryBytes));
    assert.equal(read(join(mem, 'memory.swappiness')), '0');
    assert.equal(read(join(m.fsRoot, 'cpu/cellblock/test-a1/cpu.cfs_period_us')), '100000');
    assert.equal(read(join(m.fsRoot, 'cpu/cellblock/test-a1/cpu.cfs_quota_us')), '50000');
    assert.equal(read(join(m.fsRoot, 'pids/cellblock/test-a1/pids.max')), '32');
    assert.deepEqual([...job.dirs].sort(), [
      join(m.fsRoot, 'blkio/cellblock/test-a1'),
      join(m.fsRoot, 'cpu/cellblock/test-a1'),
      join(m.fsRoot, 'cpuacct/cellblock/test-a1'),
      join(m.fsRoot, 'freezer/cellblock/test-a1'),
      mem,
      join(m.fsRoot, 'pids/cellblock/test-a1'),
    ]);
    // memsw after limit_in_bytes (the fake kernel, like the real one, refuses memsw < limit).
    const order = m.kernel.writes.map((w) => w.path.split('/').pop());
    assert.ok(order.indexOf('memory.limit_in_bytes') < order.indexOf('memory.memsw.limit_in_bytes'));
  });

  it('writes only to directories it created', () => {
    const { m, driver } = setup();
    driver.create('test-a2', LIMITS);
    for (const w of m.kernel.writes) assert.match(w.path, /\/cellblock\/test-a2\/[^/]+$/);
  });

  it('skips memsw when the kernel has no swap accounting', () => {
    const { m, driver } = setup({ features: { memsw: false } });
    driver.create('test-a3', LIMITS);
    assert.ok(!m.kernel.writes.some((w) => w.path.includes('memsw')));
  });

  it('refuses an existing job and removes what it made when a limit fails', () => {
    const { m, driver } = setup();
    driver.create('test-dup', LIMITS);
    assert.throws(() => driver.create('test-dup', LIMITS), /already exists|EEXIST/);
    // A kernel that refuses pids.max: nothing of the job is left behind.
    const pidsParent = join(m.fsRoot, 'pids/cellblock');
    const real = m.kernel.writeFile.bind(m.kernel);
    m.kernel.writeFile = (path, data) => {
      if (path.startsWith(pidsParent) && path.endsWith('pids.max')) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      real(path, data);
    };
    assert.throws(() => driver.create('test-bad', LIMITS), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CGROUP_FAILED');
      assert.match(err.message, /failed to write "32" to .*pids\.max: EINVAL/);
      return true;
    });
    assert.ok(!driver.list().includes('test-bad'));
  });

  it('reads stats from the v1 files', () => {
    const { m, driver } = setup();
    driver.create('test-s', LIMITS);
    const dir = (h: string) => join(m.fsRoot, h, 'cellblock/test-s');
    const mem = join(m.fsRoot, `memory${OWN_MEMORY_PATH}/cellblock/test-s`);
    m.kernel.set(join(dir('cpuacct'), 'cpuacct.usage'), '3500999\n');
    m.kernel.set(join(dir('cpuacct'), 'cpuacct.usage_user'), '2000500\n');
    m.kernel.set(join(dir('cpuacct'), 'cpuacct.usage_sys'), '1500499\n');
    m.kernel.set(join(mem, 'memory.max_usage_in_bytes'), '67108864\n');
    m.kernel.set(join(mem, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    m.kernel.set(
      join(dir('blkio'), 'blkio.throttle.io_service_bytes_recursive'),
      '8:0 Read 4096\n8:0 Write 1024\n8:0 Total 5120\n8:16 Read 1\n8:16 Write 0\nTotal 5121\n',
    );
    const job = driver.open('test-s');
    assert.equal(job.cpuUsageUs(), 3500);
    assert.deepEqual(job.stats(), {
      cpuUserUs: 2000,
      cpuSystemUs: 1500,
      memoryPeakBytes: 67108864,
      memoryPeakSource: 'memory.max_usage_in_bytes',
      oomKills: 2,
      pidsPeak: null,
      ioReadBytes: 4097,
      ioWriteBytes: 1024,
    });
  });

  it('reports pids.peak where the kernel keeps it (6.1+, v1 too)', () => {
    const { m, driver } = setup({ features: { pidsPeak: true } });
    const job = driver.create('test-pp', LIMITS);
    m.kernel.set(join(m.fsRoot, 'pids/cellblock/test-pp/pids.peak'), '9\n');
    assert.equal(job.stats().pidsPeak, 9);
  });

  it('falls back to cpuacct.stat ticks on old kernels', () => {
    const { m, driver } = setup({ features: { cpuacctSplit: false } });
    const job = driver.create('test-old', LIMITS);
    m.kernel.set(join(m.fsRoot, 'cpuacct/cellblock/test-old/cpuacct.stat'), 'user 12\nsystem 3\n');
    assert.equal(job.stats().cpuUserUs, 120_000);
    assert.equal(job.stats().cpuSystemUs, 30_000);
  });

  it('lists the union of pids over hierarchies, and child cgroups too', () => {
    const { m, driver } = setup();
    const job = driver.create('test-p', LIMITS);
    for (const f of job.dirs.map((d) => join(d, 'cgroup.procs'))) m.kernel.writeFile(f, '100');
    m.kernel.addProcess(join(m.fsRoot, 'pids/cellblock/test-p'), 101); // only in one hierarchy
    m.kernel.mkdir(join(m.fsRoot, 'freezer/cellblock/test-p/sub'));
    m.kernel.addProcess(join(m.fsRoot, 'freezer/cellblock/test-p/sub'), 102);
    assert.deepEqual(job.pids(), [100, 101, 102]);
  });

  it('killAll freezes, SIGKILLs every pid, thaws, and waits for the cgroup to empty', async () => {
    const { m, driver } = setup({ features: { freezingReads: 2 } });
    const job = driver.create('test-k', LIMITS);
    for (const f of job.dirs.map((d) => join(d, 'cgroup.procs'))) m.kernel.writeFile(f, '200');
    m.kernel.addProcess(join(m.fsRoot, 'freezer/cellblock/test-k'), 201);
    m.kernel.writes.length = 0;
    await job.killAll();
    assert.deepEqual(job.pids(), []);
    assert.deepEqual(
      m.kernel.signals.map((s) => [s.pid, s.signal]),
      [
        [200, 'SIGKILL'],
        [201, 'SIGKILL'],
      ],
    );
    const freezer = m.kernel.writes.filter((w) => w.path.endsWith('freezer.state')).map((w) => w.data);
    assert.deepEqual(freezer, ['FROZEN', 'THAWED']);
    await job.killAll(); // nothing left: no-op
    assert.equal(m.kernel.signals.length, 2);
  });

  it('killAll gives up with the surviving pids named', async () => {
    const { m, driver } = setup();
    const job = driver.create('test-stuck', LIMITS);
    m.kernel.addProcess(join(m.fsRoot, 'freezer/cellblock/test-stuck'), 300);
    m.kernel.unkillable.add(300);
    await assert.rejects(job.killAll(), /processes 300 still in job cgroup test-stuck/);
    // The cgroup is left thawed, not frozen.
    assert.equal(read(join(m.fsRoot, 'freezer/cellblock/test-stuck/freezer.state')), 'THAWED');
    m.kernel.exit(300);
  });

  it('remove kills what is left, removes every directory (children first) and is idempotent', async () => {
    const { m, driver } = setup();
    const job = driver.create('test-r', LIMITS);
    for (const f of job.dirs.map((d) => join(d, 'cgroup.procs'))) m.kernel.writeFile(f, '400');
    m.kernel.mkdir(join(m.fsRoot, 'cpu/cellblock/test-r/child'));
    await job.remove();
    assert.equal(m.kernel.signals.length, 1);
    for (const parent of driver.parents) assert.ok(!existsSync(join(parent, 'test-r')), parent);
    assert.deepEqual(driver.list(), []);
    await job.remove();
    await driver.open('test-never-created').remove();
  });

  it('removes an empty job cgroup with one rmdir per hierarchy, reading nothing', async () => {
    const { m, driver } = setup();
    const job = driver.create('test-empty', LIMITS);
    // The driver's calls only: the fake's rmdir lists and reads on its own.
    const calls: string[] = [];
    let inKernel = 0;
    for (const name of ['readFile', 'listDirs', 'exists', 'removeDir'] as const) {
      const real = m.kernel[name].bind(m.kernel) as (p: string) => unknown;
      const counted = (p: string): unknown => {
        if (inKernel === 0) calls.push(name);
        inKernel++;
        try {
          return real(p);
        } finally {
          inKernel--;
        }
      };
      Object.assign(m.kernel, { [name]: counted });
    }
    await job.remove();
    assert.deepEqual(calls, driver.parents.map(() => 'removeDir'));
    assert.deepEqual(driver.list(), []);
  });

  it('remove reports a directory that stays busy', async () => {
    const { m, driver } = setup();
    const job = driver.create('test-busy', LIMITS);
    m.kernel.addProcess(join(m.fsRoot, 'pids/cellblock/test-busy'), 500);
    m.kernel.unkillable.add(500);
    await assert.rejects(job.remove(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CGROUP_FAILED');
      assert.match(err.message, /still in job cgroup/);
      assert.match(err.message, /failed to rmdir .*pids\/cellblock\/test-busy/);
      return true;
    });
    // The other hierarchies were still cleaned.
    assert.ok(!existsSync(join(m.fsRoot, 'cpu/cellblock/test-busy')));
    m.kernel.exit(500);
    await job.remove();
    assert.deepEqual(driver.list(), []);
  });

  it('lists jobs left in only some hierarchies, and opens them for removal', async () => {
    const { m, driver } = setup({ coMountCpu: true });
    driver.create('test-l1', LIMITS);
    m.kernel.mkdir(join(m.fsRoot, 'pids/cellblock/test-l2')); // a crash mid-create
    assert.deepEqual(driver.list(), ['test-l1', 'test-l2']);
    for (const name of driver.list()) await driver.open(name).remove();
    assert.deepEqual(driver.list(), []);
  });
});
