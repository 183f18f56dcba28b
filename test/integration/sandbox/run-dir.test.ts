// <state>/run, the tmpfs for per-job state: mounted once per host however many
// runners start at once, never over state it would hide, reused when it is there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { acquireLock } from '../../../src/image/lock.ts';
import { silentLogger } from '../../../src/log.ts';
import { ensureRunDir, isTmpfs, jobsDirIn, releaseRunDir, runDirIn, uidsDirIn } from '../../../src/sandbox/run-dir.ts';
import { mountTmpfs, unmount } from '../../../src/sys/libc.ts';

const mountsAt = (dir: string): number => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === dir).length;

describe('run dir', { skip: process.getuid?.() !== 0 && 'needs root (mounts a tmpfs)' }, () => {
  let stateDir = '';
  beforeEach(() => {
    stateDir = fs.mkdtempSync('/var/tmp/cellblock-rundir-');
  });
  afterEach(() => {
    const run = runDirIn(stateDir);
    while (fs.existsSync(run) && mountsAt(run) > 0) unmount(run);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('mounts a tmpfs (mode 0711) once, and finds it there the next time', async () => {
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
    const run = runDirIn(stateDir);
    assert.ok(isTmpfs(run));
    assert.equal(fs.statSync(run).mode & 0o777, 0o711);
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
    assert.equal(mountsAt(run), 1);
    assert.deepEqual(fs.readdirSync(stateDir).filter((n) => n.includes('lock')), [], 'the lock is given back');
  });

  it('a runner that waited for the lock while another mounted does not mount a second tmpfs over it', async () => {
    const run = runDirIn(stateDir);
    fs.mkdirSync(run);
    const other = await acquireLock(stateDir, 'run');
    const waiting = ensureRunDir(stateDir, silentLogger);
    await new Promise((r) => setTimeout(r, 150)); // it found no tmpfs and now waits for the lock
    mountTmpfs(run, 'mode=0711');
    fs.mkdirSync(path.join(run, 'jobs'));
    other.release();
    assert.equal(await waiting, 'tmpfs');
    assert.equal(mountsAt(run), 1);
    assert.ok(fs.existsSync(path.join(run, 'jobs')), 'the first tmpfs is not hidden');
  });

  it('leaves per-job state found on the disk visible, and stays on the disk', async () => {
    const leftover = path.join(jobsDirIn(stateDir), 'sandbox-1');
    fs.mkdirSync(leftover, { recursive: true });
    fs.writeFileSync(path.join(leftover, 'owner'), '1 1\n');
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'disk');
    assert.equal(mountsAt(runDirIn(stateDir)), 0);
    assert.ok(fs.existsSync(path.join(leftover, 'owner')));
    // Once reconcile has removed it (empty directories left are no state), the next start mounts.
    fs.rmSync(leftover, { recursive: true });
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
  });

  it('is unmounted again when it holds no state, and mounted again by the next start', async () => {
    assert.equal(await releaseRunDir(stateDir), 'not-mounted', 'nothing there yet');
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
    const run = runDirIn(stateDir);
    fs.mkdirSync(jobsDirIn(stateDir)); // the layout alone is no state
    assert.equal(await releaseRunDir(stateDir), 'unmounted');
    assert.equal(mountsAt(run), 0);
    assert.equal(await releaseRunDir(stateDir), 'not-mounted', 'a directory on the disk is left alone');
    assert.deepEqual(fs.readdirSync(stateDir).filter((n) => n.includes('lock')), [], 'the lock is given back');
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
    assert.equal(mountsAt(run), 1);
  });

  it('stays mounted while it holds a job directory or a uid claim', async () => {
    assert.equal(await ensureRunDir(stateDir, silentLogger), 'tmpfs');
    const job = path.join(jobsDirIn(stateDir), 'sandbox-1');
    fs.mkdirSync(job, { recursive: true });
    assert.equal(await releaseRunDir(stateDir), 'holds-state');
    assert.equal(mountsAt(runDirIn(stateDir)), 1);
    fs.rmdirSync(job);
    fs.mkdirSync(uidsDirIn(stateDir));
    fs.symlinkSync('1 1', path.join(uidsDirIn(stateDir), '0'));
    assert.equal(await releaseRunDir(stateDir), 'holds-state');
    assert.ok(fs.lstatSync(path.join(uidsDirIn(stateDir), '0')).isSymbolicLink(), 'the claim is still there');
  });
});
