// Job fields vs image config: the job wins, then the image, then cellblock's
// defaults; Entrypoint + cmd as Docker; users by name from the image's own files,
// never through a symlink.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveJobDefaults } from '../../../src/image/job-defaults.ts';
import type { ImageConfig, ResolvedImage } from '../../../src/image/types.ts';

const root = mkdtempSync(path.join(tmpdir(), 'cellblock-defaults-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(path.join(root, 'good/etc'), { recursive: true });
writeFileSync(path.join(root, 'good/etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/app:/bin/sh\n');
writeFileSync(path.join(root, 'good/etc/group'), 'root:x:0:\nstaff:x:50:\n');
mkdirSync(path.join(root, 'evil/etc'), { recursive: true });
symlinkSync('/etc/passwd', path.join(root, 'evil/etc/passwd'));
mkdirSync(path.join(root, 'evil2'), { recursive: true });
symlinkSync('/etc', path.join(root, 'evil2/etc'));

const image = (config: Partial<ImageConfig>, dir = 'good'): ResolvedImage => ({ name: 'img', digest: `sha256:${'a'.repeat(64)}`, rootfs: path.join(root, dir), config: { env: {}, ...config } });

describe('resolveJobDefaults', () => {
  it('uses cellblock\'s defaults when neither says', () => {
    assert.deepEqual(resolveJobDefaults({ cmd: ['true'] }, image({})), { cwd: '/box', user: { uid: 1000, gid: 1000 }, argv: ['true'] });
  });

  it('uses the image config, and the job\'s own fields over it', () => {
    const img = image({ workingDir: '/app', user: '7:8', entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'] });
    assert.deepEqual(resolveJobDefaults({}, img), { cwd: '/app', user: { uid: 7, gid: 8 }, argv: ['/bin/sh', '-c', 'echo hi'] });
    assert.deepEqual(resolveJobDefaults({ cwd: '/tmp', user: { uid: 0, gid: 0 }, cmd: ['ls'] }, img), { cwd: '/tmp', user: { uid: 0, gid: 0 }, argv: ['/bin/sh', '-c', 'ls'] });
    assert.deepEqual(resolveJobDefaults({}, image({ cmd: ['sh'] })).argv, ['sh']);
  });

  it('refuses a job with no command anywhere', () => {
    assert.throws(() => resolveJobDefaults({}, image({})), (err: Error & { code?: string }) => err.code === 'INVALID_JOB' && /no cmd/.test(err.message));
  });

  it('looks users and groups up by name in the image', () => {
    const u = (user: string) => resolveJobDefaults({ cmd: ['x'] }, image({ user })).user;
    assert.deepEqual(u('app'), { uid: 1234, gid: 2345 });
    assert.deepEqual(u('app:staff'), { uid: 1234, gid: 50 });
    assert.deepEqual(u('1234'), { uid: 1234, gid: 2345 }, 'a known uid gets its primary group');
    assert.deepEqual(u('4321'), { uid: 4321, gid: 4321 });
    assert.deepEqual(u('0:staff'), { uid: 0, gid: 50 });
    assert.throws(() => u('nobody'), /does not list/);
    assert.throws(() => u('app:nogroup'), /does not list/);
    assert.throws(() => u('70000'), /0 to 65535/);
  });

  it('never follows a symlink to read /etc/passwd', () => {
    assert.throws(() => resolveJobDefaults({ cmd: ['x'] }, image({ user: 'root' }, 'evil')), /\/etc\/passwd is not a plain file/);
    assert.throws(() => resolveJobDefaults({ cmd: ['x'] }, image({ user: 'root' }, 'evil2')), /\/etc is not a plain directory/);
    assert.deepEqual(resolveJobDefaults({ cmd: ['x'] }, image({ user: '0:0' }, 'evil')).user, { uid: 0, gid: 0 }, 'numeric users need no lookup');
  });
});
