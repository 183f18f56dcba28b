// ImageStore.resolve against stores laid out by hand: the errors say what is wrong
// and how to get the image, and a good entry resolves with its config.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ImageStore } from '../../../src/image/store.ts';

const HEX = 'b'.repeat(64);
const root = mkdtempSync(path.join(tmpdir(), 'cellblock-resolve-'));
after(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
}

put(`blobs/${HEX}/config.json`, JSON.stringify({ env: { PATH: '/bin' }, user: '1000:1000', workingDir: '/box' }));
mkdirSync(path.join(root, 'blobs', HEX, 'rootfs'));
put('refs/busybox/latest', `sha256:${HEX}\n`);
put('refs/team/tools/v1', `sha256:${HEX}\n`);
put('refs/lost/latest', `sha256:${'c'.repeat(64)}\n`);
put('refs/garbled/latest', 'not a digest\n');
put(`blobs/${'d'.repeat(64)}/config.json`, JSON.stringify({ env: { PATH: 1 } }));
put('refs/badconfig/latest', `sha256:${'d'.repeat(64)}\n`);

const store = new ImageStore(root);

describe('ImageStore.resolve', () => {
  it('resolves name, name:tag and digest to the same rootfs', () => {
    const byName = store.resolve('busybox');
    assert.equal(byName.name, 'busybox');
    assert.equal(byName.digest, `sha256:${HEX}`);
    assert.equal(byName.rootfs, path.join(root, 'blobs', HEX, 'rootfs'));
    assert.deepEqual(byName.config, { env: { PATH: '/bin' }, user: '1000:1000', workingDir: '/box' });
    assert.equal(store.resolve('busybox:latest').rootfs, byName.rootfs);
    assert.equal(store.resolve(`sha256:${HEX}`).rootfs, byName.rootfs);
    assert.equal(store.resolve('team/tools:v1').rootfs, byName.rootfs);
  });

  it('hands out a config that cannot be changed under other jobs', () => {
    const { config } = store.resolve('busybox');
    assert.throws(() => { config.env.PATH = '/evil'; }, TypeError);
  });

  it('says how to build or import a missing image', () => {
    assert.throws(() => store.resolve('busybox:nope'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'IMAGE_NOT_FOUND');
      assert.match(err.message, /cellblock image build busybox/);
      assert.match(err.message, /cellblock image import FILE/);
      return true;
    });
    assert.throws(() => store.resolve('toolchain'), /cellblock image build toolchain/);
  });

  it('treats a tag of a shorter name, or a longer name, as not found', () => {
    assert.throws(() => store.resolve('busybox/latest'), { code: 'IMAGE_NOT_FOUND' });
    assert.throws(() => store.resolve('team:tools'), { code: 'IMAGE_NOT_FOUND' });
  });

  it('reports a digest that is not extracted', () => {
    assert.throws(() => store.resolve(`sha256:${'e'.repeat(64)}`), { code: 'IMAGE_NOT_FOUND' });
    assert.throws(() => store.resolve('lost'), (err: Error & { code?: string }) => err.code === 'IMAGE_NOT_FOUND' && /import its tarball again/.test(err.message));
  });

  it('reports a garbled ref or config as IMAGE_INVALID', () => {
    assert.throws(() => store.resolve('garbled'), { code: 'IMAGE_INVALID' });
    assert.throws(() => store.resolve('badconfig'), (err: Error & { code?: string }) => err.code === 'IMAGE_INVALID' && /env\.PATH/.test(err.message));
  });

  it('refuses a malformed reference before touching the disk', () => {
    assert.throws(() => store.resolve('../../etc/passwd'), { code: 'IMAGE_INVALID' });
  });

  it('works on a store that does not exist yet', () => {
    const empty = new ImageStore(path.join(root, 'nothing-here'));
    assert.throws(() => empty.resolve('busybox'), { code: 'IMAGE_NOT_FOUND' });
    assert.deepEqual(empty.list(), []);
  });

  it('lists refs sorted, skipping garbled ones', () => {
    assert.deepEqual(store.list().map((i) => `${i.name}:${i.tag}`), ['badconfig:latest', 'busybox:latest', 'lost:latest', 'team/tools:v1']);
  });
});
