// The launcher makes a sandbox's cgroups ahead of its job and writes the job's limits
// into them before anything of the job runs, and only into them: a write that names a
// file outside them is refused before the job starts; a refused limit fails the
// sandbox, a refused preference does not. Driven through the launcher server directly,
// as the sandbox pool and the runner do.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { detectCgroupDriver, type CgroupWrite, type JobCgroup } from '../../../src/cgroup/index.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { jobFilters } from '../../../src/seccomp/compile.ts';
import { JobDir } from '../../../src/sandbox/job-dir.ts';
import type { LaunchConfig, LaunchOutcome } from '../../../src/sandbox/launch.ts';
import { LauncherServer, type PreparedLaunch } from '../../../src/sandbox/launcher-server.ts';
import { currentOwner } from '../../../src/sandbox/owner.ts';
import { ensureRunDir, jobsDirIn, uidsDirIn } from '../../../src/sandbox/run-dir.ts';
import { DEFAULT_LAUNCHER } from '../../../src/sandbox/runner.ts';
import { UidRanges } from '../../../src/sandbox/uid-ranges.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { prepareTestImage, SCOPE, TEST_IMAGE, TEST_STATE_DIR } from '../../helpers/sandbox.ts';

interface Sandbox {
  cgroup: JobCgroup;
  launch: PreparedLaunch;
  /** Everything given back, in the pool's order (supervisor gone, then cgroup, directory, uid range). */
  release(): Promise<void>;
}

const undo: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step();
  await assertNoLeaks(SCOPE);
});

let seq = 0;

/** A sandbox prepared as the pool prepares one, on a launcher server of the test's own. */
async function prepareSandbox(): Promise<Sandbox> {
  await prepareTestImage();
  await ensureRunDir(TEST_STATE_DIR, silentLogger);
  const owner = currentOwner();
  const jobsRoot = jobsDirIn(TEST_STATE_DIR);
  fs.mkdirSync(jobsRoot, { recursive: true });
  const uids = new UidRanges(uidsDirIn(TEST_STATE_DIR), SCOPE.uidBase, SCOPE.uidRanges, owner);
  const launchers = new LauncherServer(DEFAULT_LAUNCHER);
  undo.push(() => launchers.close());
  const range = await uids.acquire();
  const id = `lcg${process.pid.toString(36)}-${++seq}`;
  const dir = await JobDir.create(jobsRoot, id, owner, range);
  const cgroup = detectCgroupDriver({ parentName: SCOPE.cgroupParent }).open(id);
  const launch = launchers.prepare({ uidBase: range.base, uidCount: range.count, jobDir: dir.path, cgroups: cgroup.dirs });
  const release = async (): Promise<void> => {
    await launch.discard();
    await cgroup.remove();
    await dir.remove();
    await uids.release(range);
  };
  undo.push(release);
  return { cgroup, launch, release };
}

function config(cgroupWrites: CgroupWrite[]): LaunchConfig {
  const image = new ImageStore(path.join(TEST_STATE_DIR, 'images'), silentLogger).resolve(TEST_IMAGE);
  return {
    rootfs: image.rootfs,
    uid: 0,
    gid: 0,
    hostname: 'limits',
    cwd: '/',
    diskBytes: 16 << 20,
    diskInodes: 4096,
    rlimits: { nofile: 64, stack: 8 << 20, fsize: 16 << 20, cpuSeconds: 10, nproc: 32 },
    cgroupWrites,
    seccomp: jobFilters(undefined),
    env: ['PATH=/bin:/usr/bin'],
    argv: ['sh', '-c', 'cat /sys/fs/cgroup/pids.max 2>/dev/null || echo ran'],
  };
}

async function runIn(sandbox: Sandbox, cgroupWrites: CgroupWrite[]): Promise<{ outcome: LaunchOutcome; stdout: string; started: boolean }> {
  let stdout = '';
  let started = false;
  const launch = sandbox.launch.start(config(cgroupWrites), '', {
    onStarted: () => {
      started = true;
    },
    onStdout: (c) => {
      stdout += c.toString();
    },
    onStderr: () => {},
  });
  return { outcome: await launch.done, stdout, started };
}

/** The sandbox's cgroup directory that has `file` (on v1, one hierarchy's), once the launcher made it. */
async function dirWith(cgroup: JobCgroup, file: string): Promise<number> {
  const end = Date.now() + 10_000;
  for (;;) {
    const index = cgroup.dirs.findIndex((d) => fs.existsSync(path.join(d, file)));
    if (index >= 0) return index;
    if (Date.now() > end) throw new Error(`no ${file} in ${cgroup.dirs.join(', ')} 10 s after the sandbox was handed to the launcher`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the launcher makes the sandbox's cgroups ahead of its job, with its processes in them, and writes the limits before the job runs", async () => {
  const sandbox = await prepareSandbox();
  const pids = await dirWith(sandbox.cgroup, 'pids.max');
  for (const dir of sandbox.cgroup.dirs) assert.ok(fs.statSync(dir).isDirectory(), `${dir} made`);
  const end = Date.now() + 10_000;
  while (sandbox.cgroup.pids().length === 0) {
    assert.ok(Date.now() < end, 'the sandbox joined its cgroup');
    await new Promise((r) => setTimeout(r, 20));
  }
  const before = fs.readFileSync(path.join(sandbox.cgroup.dirs[pids]!, 'pids.max'), 'utf8').trim();
  assert.equal(before, 'max', 'no limit before the job brings one');
  const { outcome, stdout } = await runIn(sandbox, [{ dir: pids, file: 'pids.max', value: '17', optional: false }]);
  assert.equal(outcome.report.setupFailed, undefined);
  assert.equal(outcome.report.exited?.status, 0);
  // The job sees its own cgroup (cgroup namespace) where /sys/fs/cgroup is mounted; else it ran.
  assert.match(stdout, /^(17|ran)\n$/);
  assert.equal(fs.readFileSync(path.join(sandbox.cgroup.dirs[pids]!, 'pids.max'), 'utf8').trim(), '17');
});

test('a write naming a file outside the sandbox\'s cgroups is refused, and nothing of the job runs', async () => {
  for (const bad of [
    // A value that would do no harm if it got through (the most pids there can be).
    { dir: 0, file: '../pids.max', value: '4194304', optional: false },
    { dir: 0, file: '..', value: '4194304', optional: false },
    { dir: 99, file: 'pids.max', value: '4194304', optional: true },
  ]) {
    const sandbox = await prepareSandbox();
    // The file `../pids.max` would name: the cellblock parent's (on v1, when dirs[0] is the pids hierarchy's).
    const outside = path.join(path.dirname(sandbox.cgroup.dirs[0]!), 'pids.max');
    const before = fs.existsSync(outside) ? fs.readFileSync(outside, 'utf8') : undefined;
    const { outcome, stdout, started } = await runIn(sandbox, [bad]);
    // Refused by the supervisor or by pid 1, which parses its own copy: whichever reports first.
    assert.ok(['config', 'init'].includes(outcome.report.setupFailed?.stage ?? ''), `${JSON.stringify(bad)}: ${JSON.stringify(outcome.report.setupFailed)}`);
    assert.match(outcome.report.setupFailed?.message ?? '', /cgroup write/);
    assert.equal(started, false);
    assert.equal(stdout, '');
    const after = fs.existsSync(outside) ? fs.readFileSync(outside, 'utf8') : undefined;
    // Put back what a broken launcher wrote (the parent is the tests' own cgroup) before failing.
    if (after !== before && before !== undefined) fs.writeFileSync(outside, before);
    assert.equal(after, before, `${outside} was written`);
    await sandbox.release();
  }
});

test('a limit the kernel refuses fails the sandbox before the job runs; a refused preference does not', async () => {
  const refused = await prepareSandbox();
  const pids = await dirWith(refused.cgroup, 'pids.max');
  const failed = await runIn(refused, [{ dir: pids, file: 'pids.max', value: 'lots', optional: false }]);
  assert.equal(failed.outcome.report.setupFailed?.stage, 'cgroup');
  assert.match(failed.outcome.report.setupFailed?.message ?? '', /pids\.max/);
  assert.equal(failed.started, false);
  assert.equal(failed.stdout, '');

  const preferred = await prepareSandbox();
  const again = await dirWith(preferred.cgroup, 'pids.max');
  const ran = await runIn(preferred, [{ dir: again, file: 'pids.max', value: 'lots', optional: true }]);
  assert.equal(ran.outcome.report.setupFailed, undefined);
  assert.equal(ran.outcome.report.exited?.status, 0);
  assert.notEqual(ran.stdout, '');
});
