// The real v2 driver on a pure cgroup v2 kernel (skipped elsewhere; test/v2/run-in-qemu.mjs
// runs it in a guest), as root: delegation leaves no process in a cgroup that enables
// controllers, limits land in the kernel, a real process joins the job, its stats read
// back, cgroup.kill kills a whole tree, remove leaves nothing behind, and a process
// allocating past its memory limit is OOM-killed and counted. The twin of v1.test.ts.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { type CgroupDriver, type JobCgroup, detectCgroupDriver } from '../../../src/cgroup/index.ts';
import { SCOPE, TEST_STATE_DIR } from '../../helpers/sandbox.ts';

const MiB = 1024 * 1024;
const ROOT = '/sys/fs/cgroup';

/** Why this machine cannot run the test, or undefined. Checked before detection: on a v1
 *  host there is nothing to test, and detection on v2 moves this process into a leaf. */
function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(join(ROOT, 'cgroup.controllers'))) return 'not a cgroup v2 host (see test/v2/run-in-qemu.mjs)';
  const controllers = readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8');
  if (!/\bmemory\b/.test(controllers)) return 'cgroup2 without the memory controller (hybrid host)';
  return undefined;
}

const reason = skipReason();
const testName = (): string => `test-${randomBytes(4).toString('hex')}`;
const read = (path: string): string => readFileSync(path, 'utf8').trim();
const words = (path: string): string[] => read(path).split(/\s+/).filter((w) => w !== '');
const driverHere = (): CgroupDriver => detectCgroupDriver({ parentName: SCOPE.cgroupParent });
const jobDir = (job: JobCgroup): string => job.dirs[0] as string;
/** This process's cgroup directory now (the 0:: line). */
const ownDir = (): string => join(ROOT, /^0::(.*)$/m.exec(read('/proc/self/cgroup'))?.[1] ?? '/').replace(/\/$/, '');

function join_(job: JobCgroup, pid: number): void {
  assert.equal(job.dirs.length, 1, 'one hierarchy on v2');
  writeFileSync(join(jobDir(job), 'cgroup.procs'), String(pid));
}

async function cleanup(driver: CgroupDriver, job: JobCgroup | undefined, child: ChildProcess | undefined): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await job?.remove();
  if (job) assert.ok(!existsSync(jobDir(job)), `left behind: ${jobDir(job)}`);
}

describe('v2 driver on this machine', { skip: reason }, () => {
  it('delegates: controllers enabled for jobs, no process left where they are enabled', () => {
    const driver = driverHere();
    assert.equal(driver.version, 2);
    const [parent] = driver.parents;
    assert.ok(parent !== undefined && parent.endsWith(`/${SCOPE.cgroupParent}`), `parent ${parent}`);
    const x = dirname(parent);
    const forJobs = words(join(parent, 'cgroup.subtree_control'));
    for (const c of ['memory', 'cpu', 'pids']) {
      assert.ok(words(join(x, 'cgroup.subtree_control')).includes(c), `${c} in ${x}/cgroup.subtree_control`);
      assert.ok(forJobs.includes(c), `${c} in ${parent}/cgroup.subtree_control`);
    }
    if (words(join(x, 'cgroup.controllers')).includes('io')) assert.ok(forJobs.includes('io'), 'io delegated when available');
    assert.deepEqual(words(join(parent, 'cgroup.procs')), [], 'nothing runs in the parent');
    const isRealRoot = !existsSync(join(x, 'cgroup.type'));
    if (isRealRoot) {
      // The root cgroup is exempt from the no-internal-process rule: we stay where we are.
      assert.equal(ownDir(), x);
    } else {
      // Everything that ran in X (this test process among them) now runs in the leaf.
      assert.deepEqual(words(join(x, 'cgroup.procs')), [], `processes left in ${x}`);
      assert.equal(ownDir(), join(x, `${SCOPE.cgroupParent}-worker`));
    }
    // Idempotent: a second worker start (or the leak check) finds it all in place.
    assert.deepEqual(driverHere().parents, driver.parents);
  });

  it('limits, joins, reads stats, kills all and removes a job cgroup', async () => {
    const driver = driverHere();
    const name = testName();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(name, { memoryBytes: 64 * MiB, cpus: 0.5, pids: 16 });
      const dir = jobDir(job);
      assert.equal(dir, join(driver.parents[0] as string, name));
      assert.equal(read(join(dir, 'memory.max')), String(64 * MiB));
      if (existsSync(join(dir, 'memory.swap.max'))) assert.equal(read(join(dir, 'memory.swap.max')), '0');
      assert.equal(read(join(dir, 'cpu.max')), '50000 100000');
      assert.equal(read(join(dir, 'pids.max')), '16');
      assert.ok(driver.list().includes(name));

      child = spawn('sleep', ['30'], { stdio: 'ignore' });
      await once(child, 'spawn');
      const pid = child.pid as number;
      join_(job, pid);
      assert.deepEqual(job.pids(), [pid]);
      assert.match(read(`/proc/${pid}/cgroup`), new RegExp(`^0::.*/${SCOPE.cgroupParent}/${name}$`, 'm'));

      const stats = job.stats();
      assert.equal(stats.memoryPeakSource, existsSync(join(dir, 'memory.peak')) ? 'memory.peak' : 'memory.current');
      assert.ok(Number.isInteger(stats.memoryPeakBytes) && stats.memoryPeakBytes >= 0, `peak ${stats.memoryPeakBytes}`);
      assert.equal(stats.oomKills, 0);
      if (existsSync(join(dir, 'pids.peak'))) assert.ok(stats.pidsPeak !== null && stats.pidsPeak >= 1, `pidsPeak ${stats.pidsPeak}`);
      else assert.equal(stats.pidsPeak, null);
      assert.ok(stats.cpuUserUs >= 0 && stats.cpuSystemUs >= 0 && stats.ioReadBytes >= 0 && stats.ioWriteBytes >= 0);
      assert.ok(job.cpuUsageUs() >= 0);

      const exited = once(child, 'exit');
      const started = performance.now();
      await job.killAll();
      const [, signal] = await exited;
      assert.equal(signal, 'SIGKILL');
      assert.deepEqual(job.pids(), []);
      assert.ok(performance.now() - started < 2000, 'killAll took too long');

      await job.remove();
      assert.ok(!existsSync(dir), dir);
      assert.ok(!driver.list().includes(name));
      await job.remove(); // idempotent
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('killAll kills a whole process tree, forks included, and pids.peak saw them', async () => {
    const driver = driverHere();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 16 });
      child = spawn('sh', ['-c', 'read go; sleep 30 & sleep 30 & sleep 30 & wait'], { stdio: ['pipe', 'ignore', 'ignore'] });
      await once(child, 'spawn');
      join_(job, child.pid as number);
      child.stdin?.write('go\n');
      const deadline = Date.now() + 2000;
      while (job.pids().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(job.pids().length, 4);
      const peak = job.stats().pidsPeak;
      assert.ok(peak === null || peak >= 4, `pidsPeak ${peak}`);
      const exited = once(child, 'exit');
      await job.killAll();
      assert.deepEqual(job.pids(), []);
      assert.equal((await exited)[1], 'SIGKILL');
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('a pids.max of 4 makes the fifth fork fail', async () => {
    const driver = driverHere();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 4 });
      child = spawn('sh', ['-c', 'read go; for i in 1 2 3 4 5 6; do sleep 30 & done; wait'], { stdio: ['pipe', 'ignore', 'pipe'] });
      await once(child, 'spawn');
      join_(job, child.pid as number);
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdin?.write('go\n');
      const deadline = Date.now() + 3000;
      while (!/fork|resource/i.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.match(stderr, /fork|resource/i, 'the shell reports the refused fork');
      assert.ok(job.pids().length <= 4, `pids ${job.pids().length}`);
      const events = read(join(jobDir(job), 'pids.events'));
      assert.match(events, /^max [1-9]/m, events);
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('OOM-kills a process that allocates past its memory limit, and counts it', async () => {
    const driver = driverHere();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 64 });
      // Allocates only once it is in the cgroup: v2 does not move charges either.
      child = spawn(
        process.execPath,
        ['-e', "process.stdin.once('data', () => { const b = Buffer.alloc(200 * 1024 * 1024, 1); console.log(b.length); process.exit(0); })"],
        { stdio: ['pipe', 'ignore', 'ignore'] },
      );
      await once(child, 'spawn');
      join_(job, child.pid as number);
      const exited = once(child, 'exit');
      child.stdin?.write('go\n');
      const [code, signal] = await exited;
      assert.equal(signal, 'SIGKILL', `exit code ${code}`);
      const stats = job.stats();
      assert.ok(stats.oomKills >= 1, `oomKills ${stats.oomKills}`);
      assert.match(read(join(jobDir(job), 'memory.events')), /^oom_kill [1-9]/m);
      if (stats.memoryPeakSource === 'memory.peak') {
        assert.ok(stats.memoryPeakBytes > 32 * MiB && stats.memoryPeakBytes <= 64 * MiB, `peak ${stats.memoryPeakBytes}`);
      }
      assert.deepEqual(job.pids(), []);
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('io.stat counts what the job wrote to a block device', async (t) => {
    const driver = driverHere();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    const file = join(TEST_STATE_DIR, `io-${randomBytes(4).toString('hex')}`);
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 16 });
      if (!words(join(jobDir(job), 'cgroup.controllers')).includes('io')) return t.skip('io is not delegated here');
      if (!existsSync(TEST_STATE_DIR) || statSync(TEST_STATE_DIR).dev >>> 8 === 0) return t.skip(`${TEST_STATE_DIR} is not on a block device`);
      child = spawn('sh', ['-c', `read go; dd if=/dev/zero of=${file} bs=1M count=4 oflag=direct status=none`], { stdio: ['pipe', 'ignore', 'inherit'] });
      await once(child, 'spawn');
      join_(job, child.pid as number);
      const exited = once(child, 'exit');
      child.stdin?.write('go\n');
      assert.deepEqual(await exited, [0, null]);
      const stats = job.stats();
      assert.ok(stats.ioWriteBytes >= 4 * MiB, `ioWriteBytes ${stats.ioWriteBytes}`);
    } finally {
      await cleanup(driver, job, child);
      rmSync(file, { force: true });
    }
  });
});
