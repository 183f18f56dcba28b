// The real v1 driver on this machine, as root: limits land in the kernel, a real process
// joins the job, its stats read back, killAll kills it, remove leaves nothing behind, and
// a process allocating past its memory limit is OOM-killed and counted.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type CgroupDriver, type JobCgroup, detectCgroupDriver } from '../../../src/cgroup/index.ts';

const MiB = 1024 * 1024;

/** Why this machine cannot run the test, or undefined. Checked before detection: on a v2
 *  host detection would move this test runner into a leaf cgroup. */
function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root';
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'cgroup v2 host (v1 test)';
  if (!existsSync('/sys/fs/cgroup/memory/cgroup.procs')) return 'no v1 memory hierarchy';
  return undefined;
}

const reason = skipReason();
const testName = (): string => `test-${randomBytes(4).toString('hex')}`;
const read = (path: string): string => readFileSync(path, 'utf8').trim();

/** What a launcher does: put the job's first pid into every hierarchy. */
function join_(job: JobCgroup, pid: number): void {
  for (const file of job.dirs.map((d) => join(d, 'cgroup.procs'))) writeFileSync(file, String(pid));
}

async function cleanup(driver: CgroupDriver, job: JobCgroup | undefined, child: ChildProcess | undefined): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await job?.remove();
  if (job) for (const parent of driver.parents) assert.ok(!existsSync(join(parent, job.name)), `left behind in ${parent}`);
}

describe('v1 driver on this machine', { skip: reason }, () => {
  it('limits, joins, reads stats, kills all and removes a job cgroup', async () => {
    const driver = detectCgroupDriver();
    assert.equal(driver.version, 1);
    const name = testName();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(name, { memoryBytes: 64 * MiB, cpus: 0.5, pids: 16 });
      const dirs = job.dirs;
      const dirWith = (file: string): string => {
        const dir = dirs.find((d) => existsSync(join(d, file)));
        assert.ok(dir, `no job dir has ${file}`);
        return dir;
      };
      assert.equal(read(join(dirWith('memory.limit_in_bytes'), 'memory.limit_in_bytes')), String(64 * MiB));
      const memsw = join(dirWith('memory.limit_in_bytes'), 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) assert.equal(read(memsw), String(64 * MiB));
      assert.equal(read(join(dirWith('cpu.cfs_quota_us'), 'cpu.cfs_quota_us')), '50000');
      assert.equal(read(join(dirWith('cpu.cfs_period_us'), 'cpu.cfs_period_us')), '100000');
      assert.equal(read(join(dirWith('pids.max'), 'pids.max')), '16');
      assert.ok(driver.list().includes(name));

      child = spawn('sleep', ['30'], { stdio: 'ignore' });
      await once(child, 'spawn');
      const pid = child.pid as number;
      join_(job, pid);
      assert.deepEqual(job.pids(), [pid]);
      // The kernel agrees: the process is in <parent>/<name> in every hierarchy we use.
      const procCgroup = read(`/proc/${pid}/cgroup`);
      for (const c of ['memory', 'cpu', 'cpuacct', 'pids', 'freezer']) {
        assert.match(procCgroup, new RegExp(`^\\d+:[^:]*\\b${c}\\b[^:]*:.*/cellblock/${name}$`, 'm'), c);
      }

      const stats = job.stats();
      assert.equal(stats.memoryPeakSource, 'memory.max_usage_in_bytes');
      // sleep's pages were charged before it joined (v1 does not move charges): the peak may be 0.
      assert.ok(Number.isInteger(stats.memoryPeakBytes) && stats.memoryPeakBytes >= 0, `peak ${stats.memoryPeakBytes}`);
      assert.equal(stats.oomKills, 0);
      // pids.peak exists from kernel 6.1 on, v1 included; the sleep has been in the cgroup.
      assert.ok(stats.pidsPeak === null || stats.pidsPeak >= 1, `pidsPeak ${stats.pidsPeak}`);
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
      for (const parent of driver.parents) assert.ok(!existsSync(join(parent, name)), parent);
      assert.ok(!driver.list().includes(name));
      await job.remove(); // idempotent
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('killAll kills a whole process tree, forks included', async () => {
    const driver = detectCgroupDriver();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 16 });
      // The shell joins first, then forks three sleeps, which inherit its cgroups.
      child = spawn('sh', ['-c', 'read go; sleep 30 & sleep 30 & sleep 30 & wait'], { stdio: ['pipe', 'ignore', 'ignore'] });
      await once(child, 'spawn');
      join_(job, child.pid as number);
      child.stdin?.write('go\n');
      const deadline = Date.now() + 2000;
      while (job.pids().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(job.pids().length, 4);
      const exited = once(child, 'exit');
      await job.killAll();
      assert.deepEqual(job.pids(), []);
      assert.equal((await exited)[1], 'SIGKILL');
    } finally {
      await cleanup(driver, job, child);
    }
  });

  it('OOM-kills a process that allocates past its memory limit, and counts it', async () => {
    const driver = detectCgroupDriver();
    let job: JobCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      job = driver.create(testName(), { memoryBytes: 64 * MiB, cpus: 1, pids: 64 });
      // It waits for a line on stdin so that it allocates only once it is in the cgroup
      // (memory charged before joining stays with the old cgroup on v1).
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
      assert.ok(stats.memoryPeakBytes > 32 * MiB && stats.memoryPeakBytes <= 64 * MiB, `peak ${stats.memoryPeakBytes}`);
      assert.deepEqual(job.pids(), []);
    } finally {
      await cleanup(driver, job, child);
    }
  });
});
