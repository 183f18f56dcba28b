// Hostile tarballs: each tries to write outside the store in one way. Every import
// must fail with IMAGE_INVALID naming the entry, write nothing outside, and leave
// no blob, ref or temp dir behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ImageStore } from '../../../src/image/store.ts';
import { skipUnlessRoot, tempDir } from './helpers.ts';
import { type FixtureEntry, writeTar } from './tar-fixture.ts';

describe('hostile tarballs', { skip: skipUnlessRoot }, () => {
  const outside = tempDir('outside');
  const work = tempDir('hostile');
  const id = randomBytes(4).toString('hex');
  const dotdots = '../'.repeat(30);

  const cases: Array<{ name: string; entries: FixtureEntry[]; targets: string[]; why: RegExp }> = [
    {
      name: 'entry ../evil',
      entries: [{ path: '../evil', body: 'x' }, { path: `${dotdots}${outside.slice(1)}/dotdot`, body: 'x' }],
      targets: [path.join(outside, 'dotdot')],
      why: /contains "\.\."/,
    },
    {
      name: 'absolute entry /evil',
      entries: [{ path: `${outside}/absolute`, body: 'x' }],
      targets: [path.join(outside, 'absolute')],
      why: /absolute path/,
    },
    {
      name: 'symlink a -> / followed by a/etc/x',
      entries: [{ path: 'a', type: 'SymbolicLink', linkpath: '/' }, { path: `a/etc/cellblock-evil-${id}`, body: 'x' }, { path: `a${outside}/via-root`, body: 'x' }],
      targets: [`/etc/cellblock-evil-${id}`, path.join(outside, 'via-root')],
      why: /through the symlink "a"/,
    },
    {
      name: 'symlink to a directory outside, then a file under it',
      entries: [{ path: './d/', type: 'Directory' }, { path: './d/out', type: 'SymbolicLink', linkpath: outside }, { path: './d/out/file', body: 'x' }],
      targets: [path.join(outside, 'file')],
      why: /through the symlink "d\/out"/,
    },
    {
      name: 'relative symlink climbing out, then a directory under it',
      entries: [{ path: 'up', type: 'SymbolicLink', linkpath: `${dotdots}${outside.slice(1)}` }, { path: 'up/dir/', type: 'Directory' }],
      targets: [path.join(outside, 'dir')],
      why: /through the symlink "up"/,
    },
    {
      name: 'hard link to a host file through a symlink',
      entries: [{ path: 'a', type: 'SymbolicLink', linkpath: '/' }, { path: 'passwd', type: 'Link', linkpath: 'a/etc/passwd' }],
      targets: [],
      why: /hard link target goes through the symlink "a"/,
    },
    {
      name: 'hard link to an absolute path',
      entries: [{ path: 'shadow', type: 'Link', linkpath: '/etc/shadow' }],
      targets: [],
      why: /absolute path/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      for (const t of c.targets) assert.ok(!existsSync(t), `${t} exists before the test`);
      const file = path.join(work, `${randomBytes(4).toString('hex')}.tar`);
      // A harmless entry first, so the refusal happens with extraction under way.
      writeTar(file, [{ path: 'etc/', type: 'Directory' }, { path: 'etc/ok', body: 'ok' }, ...c.entries]);
      const store = new ImageStore(tempDir('store'));
      await assert.rejects(store.importTarball(file, 'evil'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'IMAGE_INVALID');
        assert.match(err.message, c.why);
        assert.match(err.message, /refusing/);
        return true;
      });
      for (const t of c.targets) assert.ok(!existsSync(t), `${t} was written`);
      assert.deepEqual(readdirSync(outside), [], 'nothing appeared in the outside dir');
      assert.deepEqual(readdirSync(path.join(store.root, 'blobs')), []);
      assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
      assert.ok(!existsSync(path.join(store.root, 'refs')));
    });
  }
});
