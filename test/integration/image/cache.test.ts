// The store as a cache shared by processes: two processes importing one image at
// once extract it once; a process killed mid-extraction leaves nothing that looks
// complete, and the next import recovers; `rm` and GC never touch an image a live
// job uses, and GC keeps the store under its budget, least recently used first.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../../../src/image/store.ts';
import { currentOwner, formatOwner } from '../../../src/sandbox/owner.ts';
import { jobsDirIn } from '../../../src/sandbox/run-dir.ts';
import { skipUnlessRoot, tempDir } from './helpers.ts';
import { writeTar } from './tar-fixture.ts';

const CHILD = fileURLToPath(new URL('./import-child.ts', import.meta.url));
const BUSYBOX_TAR = fileURLToPath(new URL('../../../images/build/busybox.tar', import.meta.url));
const MiB = 1024 * 1024;

function importInChild(root: string, file: string, name: string, onLine?: (line: string, kill: () => void) => void): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, file, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      onLine?.(line, () => child.kill('SIGKILL'));
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, lines })));
}

const messages = (lines: string[]): string[] => lines.filter((l) => l.startsWith('{')).map((l) => String((JSON.parse(l) as { msg: unknown }).msg));

function fakeLiveJob(jobsDir: string, id: string, digest: string): string {
  const dir = path.join(jobsDir, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'owner'), formatOwner(currentOwner()));
  writeFileSync(path.join(dir, 'image'), `${digest}\n`);
  return dir;
}

describe('the image cache across processes and jobs', { skip: skipUnlessRoot }, () => {
  it('extracts once when two processes import the same image at once', async () => {
    const root = path.join(tempDir('shared'), 'images');
    const [a, b] = await Promise.all([importInChild(root, BUSYBOX_TAR, 'one'), importInChild(root, BUSYBOX_TAR, 'two')]);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    const all = [...messages(a.lines), ...messages(b.lines)];
    assert.equal(all.filter((m) => m === 'image extracted').length, 1, all.join('\n'));
    assert.equal(all.filter((m) => m === 'image extracted concurrently elsewhere; discarding this copy').length, 0, 'the loser never extracted at all');
    const store = new ImageStore(root);
    assert.deepEqual(store.list().map((i) => i.name), ['one', 'two']);
    assert.equal(readdirSync(path.join(root, 'blobs')).length, 1);
  });

  it('leaves nothing that looks complete when killed mid-extraction, and the next import recovers', async () => {
    const work = tempDir('crash');
    const big = path.join(work, 'big.tar');
    writeTar(big, [{ path: 'etc/', type: 'Directory' }, ...Array.from({ length: 40 }, (_, i) => ({ path: `data/f${i}`, body: 'x'.repeat(4 * MiB) }))]);
    const root = path.join(work, 'images');
    const r = await importInChild(root, big, 'big', (line, kill) => {
      if (line === 'EXTRACTING') setTimeout(kill, 50);
    });
    assert.equal(r.code, null, 'killed');
    assert.deepEqual(readdirSync(path.join(root, 'blobs')), [], 'no blob');
    assert.equal(readdirSync(path.join(root, 'tmp')).length, 1, 'a temp dir left');
    assert.equal(readdirSync(path.join(root, 'locks')).filter((n) => n.endsWith('.lock')).length, 1, 'a dead holder\'s lock left');
    const store = new ImageStore(root);
    assert.throws(() => store.resolve('big'), { code: 'IMAGE_NOT_FOUND' });
    const image = await store.importFile(big, 'big');
    assert.ok(existsSync(path.join(image.rootfs, 'data/f39')));
    assert.deepEqual(readdirSync(path.join(root, 'tmp')), []);
    assert.deepEqual(readdirSync(path.join(root, 'locks')).filter((n) => n.endsWith('.lock')), []);
  });

  it('refuses to rm an image a live job uses; GC never removes it; both work once the job is gone', async () => {
    const state = tempDir('state');
    const store = new ImageStore(path.join(state, 'images'));
    const image = await store.importFile(BUSYBOX_TAR, 'busy');
    const job = fakeLiveJob(jobsDirIn(state), 'job-1', image.digest);
    assert.equal(store.inspect('busy').inUse, true);
    await assert.rejects(store.remove('busy'), (err: Error) => err.name === 'ImageInUseError' && /in use by a running job/.test(err.message));
    const report = store.gc({ budgetBytes: 0 });
    assert.deepEqual(report.removed, []);
    assert.deepEqual(report.skippedInUse, [image.digest]);
    assert.equal(store.resolve('busy').digest, image.digest);
    // A job whose owner process is dead does not count.
    writeFileSync(path.join(job, 'owner'), '999999999 1\n');
    assert.equal(store.inspect('busy').inUse, false);
    rmSync(job, { recursive: true });
    assert.deepEqual(await store.remove('busy'), { untagged: ['busy:latest'], deleted: image.digest });
    assert.deepEqual(readdirSync(path.join(store.root, 'blobs')), []);
    assert.ok(!existsSync(path.join(store.root, 'refs', 'busy')));
  });

  it('untags only, while another name points at the image', async () => {
    const store = new ImageStore(path.join(tempDir('state'), 'images'));
    const image = await store.importFile(BUSYBOX_TAR, 'a');
    await store.importFile(BUSYBOX_TAR, 'b:1');
    assert.deepEqual(await store.remove('a'), { untagged: ['a:latest'] });
    assert.equal(store.resolve('b:1').digest, image.digest);
    assert.deepEqual(await store.remove(image.digest), { untagged: ['b:1'], deleted: image.digest });
  });

  it('garbage-collects unnamed images, then the least recently used until under budget', async () => {
    const state = tempDir('state');
    const work = tempDir('gc');
    const store = new ImageStore(path.join(state, 'images'));
    const make = async (name: string, mib: number) => {
      const file = path.join(work, `${name}.tar`);
      writeTar(file, [{ path: 'etc/', type: 'Directory' }, { path: `etc/${name}`, body: name[0]?.repeat(mib * MiB) ?? '' }]);
      return store.importFile(file, name);
    };
    const old = await make('old', 3);
    const mid = await make('mid', 3);
    const recent = await make('recent', 3);
    const orphan = await make('orphan', 1);
    rmSync(path.join(store.root, 'refs', 'orphan'), { recursive: true });
    // Last used: old < mid < recent; mid is also in use by a live job.
    const t = Date.now() / 1000;
    for (const [img, ago] of [[old, 300], [mid, 200], [recent, 100]] as const) {
      const f = path.join(store.root, 'blobs', img.digest.slice(7), 'last-used');
      utimesSync(f, t - ago, t - ago);
    }
    fakeLiveJob(jobsDirIn(state), 'job-2', mid.digest);

    const report = store.gc({ budgetBytes: 4 * MiB });
    assert.deepEqual(report.removed.map((r) => [r.digest, r.reason, r.refs]), [
      [orphan.digest, 'unreferenced', []],
      [old.digest, 'over budget', ['old:latest']],
      [recent.digest, 'over budget', ['recent:latest']],
    ]);
    assert.deepEqual(report.skippedInUse, [mid.digest]);
    assert.equal(report.totalBytes, 3 * MiB, 'over the budget only by what is in use');
    assert.deepEqual(store.list().map((i) => i.name), ['mid']);

    const second = store.gc({ budgetBytes: 4 * MiB });
    assert.deepEqual(second.removed, []);
  });
});
