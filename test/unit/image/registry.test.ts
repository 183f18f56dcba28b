// Remote references as Docker reads them, the local names pulls get, credentials
// from docker config files, and WWW-Authenticate challenges.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { findCredentials, parseChallenge } from '../../../src/image/registry/auth.ts';
import { defaultLocalName, isLoopback, parseRemoteRef } from '../../../src/image/registry/reference.ts';
import { choosePlatform, type Descriptor } from '../../../src/image/oci.ts';

const HEX = 'a'.repeat(64);

describe('parseRemoteRef', () => {
  it('reads Docker Hub shorthands', () => {
    assert.deepEqual(parseRemoteRef('busybox'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' });
    assert.deepEqual(parseRemoteRef('team/app:1.2'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'team/app', tag: '1.2' });
  });

  it('reads hosts with ports, tags and digests', () => {
    assert.deepEqual(parseRemoteRef(`127.0.0.1:5000/a/b:v1@sha256:${HEX}`), { registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'a/b', tag: 'v1', digest: `sha256:${HEX}` });
    assert.deepEqual(parseRemoteRef(`localhost/x@sha256:${HEX}`), { registry: 'localhost', apiHost: 'localhost', repository: 'x', digest: `sha256:${HEX}` });
  });

  for (const bad of ['Upper/x', 'a/../b', 'host:5000/x:bad tag', `x@sha256:${'A'.repeat(64)}`, 'x@md5:00', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseRemoteRef(bad), { code: 'IMAGE_INVALID' }));
  }

  it('names pulled images after the repository and tag', () => {
    assert.equal(defaultLocalName(parseRemoteRef('busybox')), 'busybox:latest');
    assert.equal(defaultLocalName(parseRemoteRef('127.0.0.1:5000/team/app:V1')), 'team/app:v1');
    assert.equal(defaultLocalName(parseRemoteRef(`ghcr.io/o/r@sha256:${HEX}`)), 'o/r:sha256-aaaaaaaaaaaa');
  });

  it('treats only loopback as plain-HTTP', () => {
    assert.ok(isLoopback('127.0.0.1:5000') && isLoopback('localhost') && isLoopback('[::1]:80'));
    assert.ok(!isLoopback('registry.example.com') && !isLoopback('10.0.0.1:5000'));
  });
});

describe('registry auth', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cellblock-auth-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads credentials from a docker config file', () => {
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ auths: {
      'registry.example.com:5000': { auth: Buffer.from('me:pa:ss').toString('base64') },
      'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
      'other.example.com': { username: 'u', password: 'p' },
    } }));
    assert.deepEqual(findCredentials(file, 'registry.example.com:5000'), { username: 'me', password: 'pa:ss' });
    assert.deepEqual(findCredentials(file, 'docker.io'), { username: 'hub', password: 'pw' });
    assert.deepEqual(findCredentials(file, 'other.example.com'), { username: 'u', password: 'p' });
    assert.equal(findCredentials(file, 'nowhere.example.com'), undefined);
    assert.equal(findCredentials(path.join(dir, 'missing.json'), 'x'), undefined);
    assert.throws(() => findCredentials(path.join(dir, 'missing.json'), 'x', true), { code: 'INVALID_CONFIG' });
  });

  it('parses Bearer and Basic challenges', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
      scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
    assert.deepEqual(parseChallenge('Basic realm="cellblock, test"'), { scheme: 'basic', params: { realm: 'cellblock, test' } });
    assert.deepEqual(parseChallenge('Bearer realm=https://x/token, service=x'), { scheme: 'bearer', params: { realm: 'https://x/token', service: 'x' } });
  });
});

describe('choosePlatform', () => {
  const d = (architecture: string, variant?: string): Descriptor => ({ mediaType: '', digest: `sha256:${HEX}`, hex: HEX, size: 1, platform: { os: 'linux', architecture, ...(variant && { variant }) } });
  it('picks the host platform and names what is offered otherwise', () => {
    const list = [d('s390x'), d('amd64'), d('arm64', 'v8')];
    assert.equal(choosePlatform(list, 'x', { os: 'linux', architecture: 'arm64', variant: 'v8' }), list[2]);
    assert.equal(choosePlatform(list, 'x', { os: 'linux', architecture: 'amd64' }), list[1]);
    assert.throws(() => choosePlatform(list, 'x', { os: 'linux', architecture: 'riscv64' }), /linux\/riscv64.*linux\/s390x, linux\/amd64, linux\/arm64\/v8/);
  });
});
