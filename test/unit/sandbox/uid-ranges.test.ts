// Uid range claims, real files in a temp dir: a claim is one record (a symlink naming
// its owner), made atomically; ranges are never handed out twice; dead owners' claims
// are taken back and live ones kept.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { currentOwner, readOwner } from '../../../src/sandbox/owner.ts';
import { RANGE_SIZE, UidRanges } from '../../../src/sandbox/uid-ranges.ts';

const BASE = 0x60000000;
let dir = '';
beforeEach(() => {
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-uids-')), 'uids');
});
afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

test('claims are records of their owner, one range each, until every range is taken', async () => {
  const me = currentOwner();
  const uids = new UidRanges(dir, BASE, 2, me);
  const a = await uids.acquire();
  const b = await uids.acquire();
  assert.deepEqual([a.base, b.base].sort(), [BASE, BASE + RANGE_SIZE]);
  assert.equal(a.count, RANGE_SIZE);
  assert.ok(fs.lstatSync(path.join(dir, String(a.index))).isSymbolicLink());
  assert.deepEqual(readOwner(path.join(dir, String(a.index))), me);
  // Another runner on the host (same files) finds both taken.
  await assert.rejects(new UidRanges(dir, BASE, 2, me).acquire(), /all 2 uid ranges are in use/);
  assert.equal(uids.held, 2);
  await uids.release(a);
  await uids.release(a); // already gone: not an error
  assert.deepEqual(fs.readdirSync(dir), [String(b.index)]);
  assert.equal((await uids.acquire()).index, a.index);
});

test('reclaimDead takes back dead owners\' claims and stray entries once old, and keeps live claims', async () => {
  const live = new UidRanges(dir, BASE, 4, currentOwner());
  await live.acquire();
  const dead = new UidRanges(dir, BASE, 4, { pid: 999_999_999, startTime: '1' });
  await dead.acquire();
  fs.writeFileSync(path.join(dir, '2'), 'not an owner');
  const old = (Date.now() - 120_000) / 1000;
  fs.utimesSync(path.join(dir, '2'), old, old);
  fs.writeFileSync(path.join(dir, '3'), 'not an owner either, but new');
  assert.equal(live.reclaimDead(), 2);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['0', '3']);
});
