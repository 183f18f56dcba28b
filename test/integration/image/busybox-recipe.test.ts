// The busybox recipe built for real into a temp store: the rootfs has the files,
// owners and modes jobs rely on, an unchanged recipe is not rebuilt, and a forced
// rebuild yields the same digest.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildRecipe } from '../../../src/image/recipes.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { captureLogger, skipUnlessRoot, tempDir } from './helpers.ts';

describe('busybox recipe', { skip: skipUnlessRoot || (existsSync('/bin/busybox') ? false : 'needs busybox-static') }, () => {
  const cacheDir = tempDir('bb-cache');
  const store = new ImageStore(tempDir('bb-store'));

  it('builds, imports and is usable', async () => {
    const image = await buildRecipe('busybox', { store, cacheDir, tty: false });
    assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.name, 'busybox:latest');
    const root = image.rootfs;

    const busybox = statSync(path.join(root, 'bin/busybox'));
    assert.ok(busybox.isFile() && (busybox.mode & 0o111) === 0o111, 'bin/busybox is executable');
    assert.equal(busybox.uid, 0);
    assert.equal(readlinkSync(path.join(root, 'bin/sh')), 'busybox');
    assert.equal(readlinkSync(path.join(root, 'usr/bin')), '../bin');

    const box = statSync(path.join(root, 'box'));
    assert.deepEqual([box.uid, box.gid, box.mode & 0o7777], [1000, 1000, 0o755]);
    const tmp = statSync(path.join(root, 'tmp'));
    assert.deepEqual([tmp.uid, tmp.mode & 0o7777], [0, 0o1777]);
    assert.equal(statSync(path.join(root, 'root')).mode & 0o7777, 0o700);
    assert.equal(statSync(root).mode & 0o7777, 0o755);
    for (const d of ['proc', 'sys', 'dev']) assert.ok(statSync(path.join(root, d)).isDirectory(), d);
    assert.deepEqual(readdirSync(path.join(root, 'dev')), []);

    assert.match(readFileSync(path.join(root, 'etc/passwd'), 'utf8'), /^box:x:1000:1000:box:\/box:\/bin\/sh$/m);
    assert.match(readFileSync(path.join(root, 'etc/group'), 'utf8'), /^box:x:1000:$/m);
    assert.equal(readFileSync(path.join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
    assert.deepEqual(image.config, JSON.parse(readFileSync(new URL('../../../images/busybox/config.json', import.meta.url), 'utf8')));

    // Runs without writing to the image: chroot only reads.
    const out = execFileSync('chroot', ['--userspec=1000:1000', root, '/bin/sh', '-c', 'echo $(id -u):$(id -g) $(cat /etc/hostname)'], { encoding: 'utf8' });
    assert.equal(out, '1000:1000 cellblock\n');
  });

  it('skips an unchanged recipe and reuses the extracted image', async () => {
    const tarball = path.join(cacheDir, 'busybox.tar');
    const before = lstatSync(tarball).mtimeMs;
    const { log, messages } = captureLogger();
    const started = Date.now();
    const image = await buildRecipe('busybox', { store, cacheDir, log, tty: false });
    assert.ok(Date.now() - started < 1000, 'second build is quick');
    assert.equal(lstatSync(tarball).mtimeMs, before, 'tarball not rewritten');
    assert.ok(messages().includes('recipe unchanged; using the cached tarball'));
    assert.ok(!messages().includes('building image'));
    assert.ok(!messages().includes('image extracted'));
    assert.equal(image.digest, store.resolve('busybox').digest);
  });

  it('gives the same digest when rebuilt from scratch', async () => {
    const first = store.resolve('busybox').digest;
    const { log, messages } = captureLogger();
    const image = await buildRecipe('busybox', { store, cacheDir, log, tty: false, force: true });
    assert.ok(messages().includes('building image'));
    assert.equal(image.digest, first);
    assert.deepEqual(store.list().map((i) => `${i.name}:${i.tag} ${i.digest}`), [`busybox:latest ${first}`]);
  });

  it('names the recipes there are when asked for one that is not', async () => {
    await assert.rejects(buildRecipe('nope', { store, cacheDir }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'IMAGE_NOT_FOUND');
      assert.match(err.message, /busybox/);
      return true;
    });
  });
});
