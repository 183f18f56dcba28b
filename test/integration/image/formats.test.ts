// Every import format, end to end: an image made as an OCI layout (three layers,
// whiteouts, an opaque directory, a config with Env, WorkingDir, User by name,
// Entrypoint and Cmd), turned by skopeo into an OCI archive and a docker save
// archive, imported each way (and from stdin, and gzipped), then run as a job
// through the real runner. Plain rootfs tarballs compressed with zstd and xz too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { parseJobSpec, type JobSpecInput } from '../../../src/job/spec.ts';
import { ImageStore } from '../../../src/image/store.ts';
import type { Runner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { jobId, SCOPE, testRunner, TEST_STATE_DIR } from '../../helpers/sandbox.ts';
import { captureLogger, skipUnlessRoot, tempDir } from './helpers.ts';
import { writeOciLayout } from './oci-fixture.ts';
import { tarBytes } from './tar-fixture.ts';

const BUSYBOX_TAR = new URL('../../../images/build/busybox.tar', import.meta.url).pathname;
const hasSkopeo = existsSync('/usr/bin/skopeo');

describe('import formats, run as jobs', { skip: skipUnlessRoot || (hasSkopeo ? false : 'needs skopeo (apt-get install skopeo)') }, () => {
  let runner: Runner;
  const captured = captureLogger();
  const store = new ImageStore(path.join(TEST_STATE_DIR, 'images'), captured.log);
  const work = tempDir('formats');
  const layout = path.join(work, 'layout');
  const names: string[] = [];
  let configDigest = '';

  before(async () => {
    runner = await testRunner();
    configDigest = writeOciLayout(layout, [
      { tar: readFileSync(BUSYBOX_TAR), gzip: true },
      { tar: tarBytes([{ path: 'etc/motd', body: 'from layer 2\n' }, { path: 'opt/a/old', body: 'x' }, { path: 'opt/keep', body: 'k' }]) },
      { tar: tarBytes([{ path: 'etc/.wh.hostname' }, { path: 'opt/a/.wh..wh..opq' }, { path: 'opt/a/new', body: 'n' }]), gzip: true },
    ], { Env: ['FOO=bar', 'PATH=/bin'], WorkingDir: '/work', User: 'box', Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo default-cmd $FOO'] });
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `oci-archive:${work}/oci.tar:v1`]);
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:v1`, `docker-archive:${work}/docker.tar:fmt/img:v1`]);
    execFileSync('sh', ['-c', `gzip -c '${work}/docker.tar' > '${work}/docker.tar.gz'`]);
  });
  afterEach(() => assertNoLeaks(SCOPE));
  after(async () => {
    await runner.close();
    for (const n of names) await store.remove(n).catch(() => undefined);
  });

  const run = async (input: Partial<JobSpecInput>) => {
    const r = await runner.run(parseJobSpec(input), { jobId: jobId('fmt') });
    assert.equal(r.verdict, 'OK', `${r.message ?? ''} ${r.stderr}`);
    return r;
  };
  const expected = 'bar 1000:1000 /work\nfrom layer 2\nnew\na\nkeep\nno-hostname\n';
  const probe = ['echo $FOO $(id -u):$(id -g) $(pwd); cat /etc/motd; ls /opt/a; ls /opt; test -e /etc/hostname || echo no-hostname'];

  const layered: Array<[string, (name: string) => Promise<{ digest: string }>]> = [
    ['an OCI layout directory', (n) => store.importFile(layout, n)],
    ['an OCI archive (skopeo oci-archive:)', (n) => store.importFile(`${work}/oci.tar`, n)],
    ['a docker save archive (skopeo docker-archive:)', (n) => store.importFile(`${work}/docker.tar`, n)],
    ['a gzipped docker save archive', (n) => store.importFile(`${work}/docker.tar.gz`, n)],
    ['a docker save archive on stdin', (n) => store.importStream(createReadStream(`${work}/docker.tar`), n)],
  ];
  for (const [i, [what, importIt]] of layered.entries()) {
    it(`imports ${what} and runs a job with its config as defaults`, async () => {
      const name = `fmt-test/layered${i}:v1`;
      names.push(name);
      const image = await importIt(name);
      assert.equal(image.digest, configDigest, 'keyed by the image config digest, whatever the format');
      const r = await run({ image: name, cmd: probe });
      assert.equal(r.stdout, expected);
      assert.deepEqual(r.image, { name, digest: configDigest });
    });
  }

  it('extracted that image once for all five formats', () => {
    assert.equal(captured.messages().filter((m) => m === 'image extracted').length, 1);
  });

  it('runs the image\'s Entrypoint + Cmd when the job has no cmd; a job\'s own fields win', async () => {
    assert.equal((await run({ image: 'fmt-test/layered0:v1' })).stdout, 'default-cmd bar\n');
    const r = await run({ image: configDigest, cmd: ['echo $FOO $(id -u):$(id -g) $(pwd)'], cwd: '/tmp', user: { uid: 0, gid: 0 }, env: { FOO: 'job' } });
    assert.equal(r.stdout, 'job 0:0 /tmp\n');
    assert.deepEqual(r.image, { name: configDigest, digest: configDigest }, 'by digest: the result records it');
  });

  for (const [tool, ext] of [['zstd', 'zst'], ['xz', 'xz']] as const) {
    it(`imports a ${tool}-compressed rootfs tarball`, { skip: existsSync(`/usr/bin/${tool}`) ? false : `needs ${tool}` }, async () => {
      const file = path.join(work, `busybox.tar.${ext}`);
      execFileSync('sh', ['-c', `${tool} -c -q '${BUSYBOX_TAR}' > '${file}'`]);
      const name = `fmt-test/plain-${tool}`;
      names.push(name);
      const image = await store.importFile(file, name);
      const r = await run({ image: name, cmd: ['cat', '/etc/hostname'] });
      assert.equal(r.stdout, 'cellblock\n');
      assert.equal(r.image.digest, image.digest);
    });
  }
});
