// Hostile layered images: what one layer sets up (a symlink out of the root), a
// later layer tries to use (a file, a hard link, a whiteout or an opaque marker
// through it); archives whose manifests point outside themselves or whose blobs
// do not match their digests. Each import must fail with IMAGE_INVALID, change
// nothing outside, and leave no blob, ref or temp dir behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ImageStore } from '../../../src/image/store.ts';
import { skipUnlessRoot, tempDir } from './helpers.ts';
import { writeOciLayout } from './oci-fixture.ts';
import { type FixtureEntry, tarBytes, writeTar } from './tar-fixture.ts';

describe('hostile layered images', { skip: skipUnlessRoot }, () => {
  const outside = tempDir('outside-layers');
  const victim = path.join(outside, 'victim');
  const work = tempDir('hostile-layers');
  const base: FixtureEntry[] = [{ path: 'etc/', type: 'Directory' }, { path: 'etc/ok', body: 'ok' }];

  const cases: Array<{ name: string; layers: FixtureEntry[][]; why: RegExp }> = [
    { name: 'a file through a lower layer\'s symlink', layers: [[...base, { path: 'a', type: 'SymbolicLink', linkpath: outside }], [{ path: 'a/planted', body: 'x' }]], why: /through the symlink "a"/ },
    { name: 'a hard link through a lower layer\'s symlink', layers: [[...base, { path: 'a', type: 'SymbolicLink', linkpath: outside }], [{ path: 'h', type: 'Link', linkpath: 'a/victim' }]], why: /hard link target goes through the symlink "a"/ },
    { name: 'a whiteout through a lower layer\'s symlink', layers: [[...base, { path: 'a', type: 'SymbolicLink', linkpath: outside }], [{ path: 'a/.wh.victim' }]], why: /whiteout: path goes through the symlink "a"/ },
    { name: 'an opaque marker through a lower layer\'s symlink', layers: [[...base, { path: 'a', type: 'SymbolicLink', linkpath: outside }], [{ path: 'a/.wh..wh..opq' }]], why: /whiteout: path goes through the symlink "a"/ },
    { name: 'a whiteout with ".."', layers: [base, [{ path: `etc/../../${'../'.repeat(20)}${outside.slice(1)}/.wh.victim` }]], why: /contains "\.\."/ },
    { name: 'a whiteout of "."', layers: [base, [{ path: 'etc/.wh..' }]], why: /whiteout of no file/ },
    { name: 'an absolute whiteout', layers: [base, [{ path: `${outside}/.wh.victim` }]], why: /absolute path/ },
  ];

  const expectRefused = async (store: ImageStore, p: Promise<unknown>, why: RegExp): Promise<void> => {
    await assert.rejects(p, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'IMAGE_INVALID');
      assert.match(err.message, why);
      return true;
    });
    assert.equal(readFileSync(victim, 'utf8'), 'still here', 'the file outside is untouched');
    assert.deepEqual(readdirSync(outside).sort(), ['victim']);
    const list = (d: string): string[] => (existsSync(path.join(store.root, d)) ? readdirSync(path.join(store.root, d)) : []);
    assert.deepEqual(list('blobs'), []);
    assert.deepEqual(list('tmp'), []);
    assert.deepEqual(list('refs'), []);
  };

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      writeFileSync(victim, 'still here');
      const layout = path.join(work, randomBytes(4).toString('hex'));
      writeOciLayout(layout, c.layers.map((entries) => ({ tar: tarBytes(entries) })), {});
      const store = new ImageStore(tempDir('store'));
      await expectRefused(store, store.importFile(layout, 'evil'), c.why);
    });
  }

  it('refuses a layer blob that does not match its digest', async () => {
    writeFileSync(victim, 'still here');
    const layout = path.join(work, 'mismatch');
    writeOciLayout(layout, [{ tar: tarBytes([...base, { path: 'etc/motd', body: 'AAAA' }]) }], {});
    const blobs = path.join(layout, 'blobs/sha256');
    for (const hex of readdirSync(blobs)) {
      const p = path.join(blobs, hex);
      const b = readFileSync(p);
      const at = b.indexOf('AAAA');
      if (at !== -1) writeFileSync(p, Buffer.concat([b.subarray(0, at), Buffer.from('BBBB'), b.subarray(at + 4)]));
    }
    const store = new ImageStore(tempDir('store'));
    await expectRefused(store, store.importFile(layout, 'evil'), /does not match its digest/);
  });

  it('refuses a docker save manifest whose layer path leaves the archive', async () => {
    writeFileSync(victim, 'still here');
    const dir = path.join(work, 'docker-escape');
    mkdirSync(dir);
    const config = JSON.stringify({ os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } });
    writeFileSync(path.join(dir, 'c.json'), config);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:1'], Layers: [`../../../../${outside.slice(1)}/victim`] }]));
    const store = new ImageStore(tempDir('store'));
    await expectRefused(store, store.importFile(dir, 'evil'), /outside the archive/);
    // And the same as a tar archive.
    const tar = path.join(work, 'docker-escape.tar');
    writeTar(tar, [{ path: 'c.json', body: config }, { path: 'manifest.json', body: readFileSync(path.join(dir, 'manifest.json'), 'utf8') }]);
    await expectRefused(store, store.importFile(tar, 'evil'), /outside the archive/);
  });

  it('drops setuid bits from layers too', async () => {
    const layout = path.join(work, 'setuid');
    writeOciLayout(layout, [{ tar: tarBytes([...base, { path: 'bin/', type: 'Directory' }, { path: 'bin/su', body: 'su', mode: 0o4755 }]) }], {});
    const store = new ImageStore(tempDir('store'));
    const image = await store.importFile(layout, 'su');
    const { statSync } = await import('node:fs');
    assert.equal(statSync(path.join(image.rootfs, 'bin/su')).mode & 0o7777, 0o755);
  });
});
