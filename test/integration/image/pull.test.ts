// `image pull` against a real registry (Debian's docker-registry) with htpasswd
// (Basic) auth: images pushed by skopeo, a two-platform index resolved to this
// host's platform, credentials from a docker config file, tampered blobs refused,
// and the pulled image run as a job through the real runner.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, afterEach, before, describe, it } from 'node:test';
import { parseJobSpec } from '../../../src/job/spec.ts';
import { pullImage } from '../../../src/image/pull.ts';
import { ImageStore } from '../../../src/image/store.ts';
import type { Runner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { jobId, SCOPE, testRunner, TEST_STATE_DIR } from '../../helpers/sandbox.ts';
import { skipUnlessRoot, tempDir } from './helpers.ts';
import { makeMultiPlatform, writeOciLayout } from './oci-fixture.ts';
import { hasRegistry, skopeoPush, startRegistry, type RegistryServer } from './registry-server.ts';
import { tarBytes } from './tar-fixture.ts';

const BUSYBOX_TAR = new URL('../../../images/build/busybox.tar', import.meta.url).pathname;
const USER = 'puller';
const PASSWORD = 'correct horse';

describe('image pull from a registry with Basic auth', { skip: skipUnlessRoot || (hasRegistry ? false : 'needs docker-registry, skopeo and htpasswd (apt-get install docker-registry skopeo apache2-utils)') }, () => {
  const work = tempDir('pull');
  const authFile = path.join(work, 'auth.json');
  const wrongAuthFile = path.join(work, 'wrong.json');
  const store = new ImageStore(path.join(TEST_STATE_DIR, 'images'));
  const names: string[] = [];
  let registry: RegistryServer;
  let runner: Runner;
  let configDigest = '';

  before(async () => {
    registry = await startRegistry(work, { kind: 'htpasswd', user: USER, password: PASSWORD });
    const layout = path.join(work, 'layout');
    configDigest = writeOciLayout(layout, [
      { tar: readFileSync(BUSYBOX_TAR), gzip: true },
      { tar: tarBytes([{ path: 'etc/motd', body: 'pulled\n' }]), gzip: true },
    ], { Env: ['GREETING=from-the-registry'], Cmd: ['sh', '-c', 'echo $GREETING; cat /etc/motd'] });
    makeMultiPlatform(layout);
    skopeoPush(`oci:${layout}:v1`, `${registry.host}/test/multi:v1`, `${USER}:${PASSWORD}`, true);
    const token = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
    writeFileSync(authFile, JSON.stringify({ auths: { [registry.host]: { auth: token(USER, PASSWORD) } } }));
    writeFileSync(wrongAuthFile, JSON.stringify({ auths: { [registry.host]: { auth: token(USER, 'wrong') } } }));
    runner = await testRunner();
  });
  afterEach(() => assertNoLeaks(SCOPE));
  after(async () => {
    await runner?.close();
    await registry?.stop();
    for (const n of names) await store.remove(n).catch(() => undefined);
  });

  it('refuses without credentials, and with wrong ones, saying what to do', async () => {
    await assert.rejects(pullImage(store, `${registry.host}/test/multi:v1`, { authFile: path.join(work, 'none.json'), name: 'pull-test/x' }),
      /no credentials for 127\.0\.0\.1:\d+ were found|cannot read the registry auth file/);
    await assert.rejects(pullImage(store, `${registry.host}/test/multi:v1`, { authFile: wrongAuthFile, name: 'pull-test/x' }), /were refused/);
  });

  it('pulls this platform\'s image from an index, verifies it, and runs it as a job', async () => {
    names.push('pull-test/multi:v1');
    const steps: string[] = [];
    const r = await pullImage(store, `${registry.host}/test/multi:v1`, {
      authFile, name: 'pull-test/multi:v1',
      progress: { step: (l) => void steps.push(l), bytes: () => {}, stepDone: () => {} },
    });
    assert.equal(r.downloaded, true);
    assert.equal(r.image.digest, configDigest, 'the host platform\'s image, not s390x');
    assert.match(r.manifestDigest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(steps.map((s) => s.replace(/ sha256:.*/, '')), ['layer 1/2', 'layer 2/2']);
    const meta = store.inspect('pull-test/multi:v1');
    assert.equal(meta.meta?.kind, 'registry');
    assert.match(meta.meta?.source ?? '', /test\/multi@sha256:/);

    const result = await runner.run(parseJobSpec({ image: 'pull-test/multi:v1' }), { jobId: jobId('pull') });
    assert.equal(result.verdict, 'OK', result.message);
    assert.equal(result.stdout, 'from-the-registry\npulled\n');
    assert.equal(result.image.digest, configDigest);
  });

  it('pulls by manifest digest, and downloads nothing for an image it has', async () => {
    const first = await pullImage(store, `${registry.host}/test/multi:v1`, { authFile, name: 'pull-test/multi:v1' });
    assert.equal(first.downloaded, false);
    names.push('pull-test/pinned:v1');
    const pinned = await pullImage(store, `${registry.host}/test/multi@${first.manifestDigest}`, { authFile, name: 'pull-test/pinned:v1' });
    assert.equal(pinned.image.digest, configDigest);
    await assert.rejects(pullImage(store, `${registry.host}/test/multi@sha256:${'0'.repeat(64)}`, { authFile, name: 'pull-test/x' }), { code: 'IMAGE_NOT_FOUND' });
  });

  it('refuses a layer whose bytes do not match its digest, and leaves nothing behind', async () => {
    const layout = path.join(work, 'tampered');
    const digest = writeOciLayout(layout, [{ tar: tarBytes([{ path: 'etc/', type: 'Directory' }, { path: 'etc/secret', body: 'original content' }]) }], {});
    skopeoPush(`oci:${layout}:v1`, `${registry.host}/test/tampered:v1`, `${USER}:${PASSWORD}`);
    // Change the layer inside the registry's own storage (it serves whatever is on
    // disk): skopeo pushed it gzipped, so change the gzip header's MTIME. The layer
    // still decompresses to the same tar, same size; only its digest is wrong.
    const blobs = path.join(registry.storage, 'docker/registry/v2/blobs/sha256');
    let changed = 0;
    for (const two of readdirSync(blobs)) {
      for (const hex of readdirSync(path.join(blobs, two))) {
        const data = path.join(blobs, two, hex, 'data');
        const bytes = readFileSync(data);
        if (bytes[0] === 0x1f && bytes[1] === 0x8b && gunzipSync(bytes).includes('original content')) {
          bytes[4] = (bytes[4] ?? 0) ^ 0xff;
          writeFileSync(data, bytes);
          changed++;
        }
      }
    }
    assert.equal(changed, 1);
    await assert.rejects(pullImage(store, `${registry.host}/test/tampered:v1`, { authFile, name: 'pull-test/tampered' }),
      (err: Error) => /does not match its digest/.test(err.message));
    assert.equal(store.hasDigest(digest), false);
    assert.throws(() => store.resolve('pull-test/tampered'), { code: 'IMAGE_NOT_FOUND' });
  });
});
