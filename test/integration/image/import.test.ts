// importTarball on real archives: concurrent imports of one digest extract once
// (in a process) or race safely (across stores), crashed imports' temp dirs are
// cleaned, and bad input leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { ImageStore } from '../../../src/image/store.ts';
import { captureLogger, skipUnlessRoot, tempDir } from './helpers.ts';
import { writeTar } from './tar-fixture.ts';

const BUILD = new URL('../../../images/busybox/build.sh', import.meta.url).pathname;

describe('ImageStore.importTarball', { skip: skipUnlessRoot }, () => {
  const work = tempDir('import');
  const busybox = path.join(work, 'busybox.tar');
  const small = path.join(work, 'small.tar');
  before(() => {
    execFileSync('bash', [BUILD, busybox]);
    writeTar(small, [
      { path: './', type: 'Directory' },
      { path: './etc/', type: 'Directory' },
      { path: './etc/motd', body: 'hi\n' },
      { path: './lib', type: 'SymbolicLink', linkpath: 'usr/lib' },
      { path: './usr/lib/', type: 'Directory' },
      { path: './usr/lib/ld.so', body: 'elf', mode: 0o755 },
      { path: './lib64/', type: 'Directory' },
      { path: './lib64/ld.so', type: 'SymbolicLink', linkpath: '/lib/ld.so' },
      { path: './usr/lib/up', type: 'SymbolicLink', linkpath: '../../../../../etc/motd' },
      { path: './usr/bin/', type: 'Directory' },
      { path: './usr/bin/su', body: 'su', mode: 0o4755 },
      { path: './usr/bin/chage', body: 'chage', mode: 0o2755, gid: 42 },
      { path: './usr/bin/su-again', type: 'Link', linkpath: './usr/bin/su' },
      { path: './dev/null', type: 'CharacterDevice', mode: 0o666 },
      { path: './run/fifo', type: 'FIFO' },
    ]);
  });

  it('extracts once when the same tarball is imported twice at once', async () => {
    const { log, messages } = captureLogger();
    const store = new ImageStore(tempDir('store'), log);
    const [a, b] = await Promise.all([store.importTarball(busybox, 'one'), store.importTarball(busybox, 'two:x')]);
    assert.equal(messages().filter((m) => m === 'image extracted').length, 1);
    assert.equal(a.rootfs, b.rootfs);
    assert.equal(a.name, 'one');
    assert.equal(b.name, 'two:x');
    assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
    assert.deepEqual(store.list().map((i) => `${i.name}:${i.tag}`), ['one:latest', 'two:x']);
    assert.ok(store.list().every((i) => i.digest === a.digest && (i.sizeBytes ?? 0) > 1_000_000));
  });

  it('lets one of two stores on one root win the rename, and the other use it', async () => {
    const root = tempDir('shared');
    const captured = [captureLogger(), captureLogger()];
    const stores = captured.map((c) => new ImageStore(root, c.log));
    const images = await Promise.all(stores.map((s, i) => s.importTarball(busybox, `racer${i}`)));
    assert.equal(images[0]?.rootfs, images[1]?.rootfs);
    const all = captured.flatMap((c) => c.messages());
    assert.equal(all.filter((m) => m === 'image extracted').length, 1, 'exactly one copy was renamed into place');
    assert.equal(readdirSync(path.join(root, 'blobs')).length, 1);
    assert.deepEqual(readdirSync(path.join(root, 'tmp')), [], 'the loser removed its copy');
    assert.ok(statSync(path.join(images[0]?.rootfs ?? '', 'bin/busybox')).isFile());
  });

  it('keeps symlink targets verbatim, modes and owners exact (setuid dropped), and skips device nodes', async () => {
    const store = new ImageStore(tempDir('store'));
    const { rootfs } = await store.importTarball(small, 'small');
    assert.equal(readlinkSync(path.join(rootfs, 'lib64/ld.so')), '/lib/ld.so');
    assert.equal(readlinkSync(path.join(rootfs, 'usr/lib/up')), '../../../../../etc/motd');
    assert.equal(readFileSync(path.join(rootfs, 'lib/ld.so'), 'utf8'), 'elf', 'a path through the archive\'s own symlink reads fine');
    assert.equal(statSync(path.join(rootfs, 'usr/bin/su')).mode & 0o7777, 0o755, 'setuid dropped by default');
    const chage = statSync(path.join(rootfs, 'usr/bin/chage'));
    assert.deepEqual([chage.gid, chage.mode & 0o7777], [42, 0o755], 'setgid dropped by default');
    assert.equal(statSync(path.join(rootfs, 'usr/bin/su-again')).ino, statSync(path.join(rootfs, 'usr/bin/su')).ino);
    assert.ok(!existsSync(path.join(rootfs, 'dev/null')));
    assert.ok(!existsSync(path.join(rootfs, 'run/fifo')));
  });

  it('removes what a crashed import left, but not a live import\'s temp dir', async () => {
    const store = new ImageStore(tempDir('store'));
    const tmp = path.join(store.root, 'tmp');
    const dead = path.join(tmp, '999999999.1.deadbeef');
    mkdirSync(path.join(dead, 'rootfs/etc'), { recursive: true });
    const pid1Start = readFileSync('/proc/1/stat', 'utf8').split(') ')[1]?.split(' ')[19] ?? '';
    const live = path.join(tmp, `1.${pid1Start}.cafe`);
    mkdirSync(live);
    await store.importTarball(small, 'small');
    assert.deepEqual(readdirSync(tmp), [path.basename(live)]);
  });

  it('keeps setuid and setgid bits when the operator allows them', async () => {
    const store = new ImageStore(tempDir('store'));
    const { rootfs } = await store.importTarball(small, 'small', { allowSetuid: true });
    assert.equal(statSync(path.join(rootfs, 'usr/bin/su')).mode & 0o7777, 0o4755);
    const chage = statSync(path.join(rootfs, 'usr/bin/chage'));
    assert.deepEqual([chage.gid, chage.mode & 0o7777], [42, 0o2755], 'setgid survives the chown');
  });

  it('reports progress steps and bytes up to the tarball size', async () => {
    const store = new ImageStore(tempDir('store'));
    const steps: Array<{ label: string; total: number | undefined; bytes: number }> = [];
    const progress = {
      step: (label: string, total?: number) => void steps.push({ label, total, bytes: 0 }),
      bytes: (n: number) => {
        const s = steps.at(-1);
        if (s) s.bytes += n;
      },
      stepDone: () => {},
    };
    await store.importTarball(busybox, 'bb', { progress });
    const size = statSync(busybox).size;
    assert.deepEqual(steps.map((s) => [s.label, s.total, s.bytes]), [['hashing busybox.tar', size, size], ['extracting busybox.tar', size, size]]);
  });

  it('imports gzip-compressed tarballs too', async () => {
    const gz = path.join(work, 'small.tar.gz');
    execFileSync('sh', ['-c', `gzip -c '${small}' > '${gz}'`]);
    const store = new ImageStore(tempDir('store'));
    const image = await store.importTarball(gz, 'small');
    assert.equal(readFileSync(path.join(image.rootfs, 'etc/motd'), 'utf8'), 'hi\n');
  });

  it('applies a new config to an already extracted digest', async () => {
    const store = new ImageStore(tempDir('store'));
    await store.importTarball(small, 'small', { config: { env: { A: '1' } } });
    assert.deepEqual(store.resolve('small').config, { env: { A: '1' } });
    await store.importTarball(small, 'small', { config: { env: { A: '2' }, user: '1000' } });
    assert.deepEqual(store.resolve('small').config, { env: { A: '2' }, user: '1000' });
    await store.importTarball(small, 'other');
    assert.deepEqual(store.resolve('other').config, { env: { A: '2' }, user: '1000' }, 'an import without a config keeps it');
  });

  it('refuses a file that is not a tar archive and leaves nothing behind', async () => {
    const junk = path.join(work, 'junk.tar');
    writeFileSync(junk, 'this is not a tarball\n'.repeat(100));
    const store = new ImageStore(tempDir('store'));
    await assert.rejects(store.importTarball(junk, 'junk'), (err: Error & { code?: string }) => err.code === 'IMAGE_INVALID' && /not a tar archive/.test(err.message));
    assert.deepEqual(existsSync(path.join(store.root, 'blobs')) ? readdirSync(path.join(store.root, 'blobs')) : [], []);
    assert.deepEqual(existsSync(path.join(store.root, 'tmp')) ? readdirSync(path.join(store.root, 'tmp')) : [], []);
    assert.throws(() => store.resolve('junk'), { code: 'IMAGE_NOT_FOUND' });
  });

  it('refuses a missing file and a bad name before reading anything', async () => {
    const store = new ImageStore(tempDir('store'));
    await assert.rejects(store.importTarball(path.join(work, 'absent.tar'), 'x'), { code: 'IMAGE_NOT_FOUND' });
    await assert.rejects(store.importTarball(small, '../x'), { code: 'IMAGE_INVALID' });
    await assert.rejects(store.importTarball(small, 'sha256:' + 'a'.repeat(64)), { code: 'IMAGE_INVALID' });
  });

  it('refuses a name that collides with an existing tag', async () => {
    const store = new ImageStore(tempDir('store'));
    await store.importTarball(small, 'a:b');
    await assert.rejects(store.importTarball(small, 'a/b'), (err: Error & { code?: string }) => err.code === 'IMAGE_INVALID' && /collides/.test(err.message));
    assert.equal(store.resolve('a:b').name, 'a:b');
  });
});
