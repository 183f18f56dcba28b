// A job directory's life on real files in a temp dir: made with its owner record,
// the image recorded, the launcher's mount points and the job's files added, and
// removed entry by entry; anything unexpected in it is removed the long way.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { digestsInUse } from '../../../src/image/usage.ts';
import { JobDir } from '../../../src/sandbox/job-dir.ts';
import { currentOwner, readOwner } from '../../../src/sandbox/owner.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const range = { index: 0, base: 0x60000000, count: 65536 };
let jobsRoot = '';
beforeEach(() => {
  jobsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-jobdir-'));
});
afterEach(() => fs.rmSync(jobsRoot, { recursive: true, force: true }));

async function madeAndUsed(name: string): Promise<JobDir> {
  const dir = await JobDir.create(jobsRoot, name, currentOwner(), range);
  dir.recordImage(DIGEST);
  for (const m of ['lower', 'rw', 'merged']) fs.mkdirSync(path.join(dir.path, m)); // as the launcher does
  dir.stageFiles({ files: [{ path: 'src/main.c', content: 'int main(){}', encoding: 'utf8', mode: 0o644 }], cwd: '/box', user: { uid: 1000, gid: 1000 } }, range, '/nonexistent');
  return dir;
}

test('a job directory records its owner and image, and is removed whole', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
  const dir = await madeAndUsed('sb-1');
  assert.equal(fs.statSync(dir.path).uid, range.base);
  assert.deepEqual(readOwner(path.join(dir.path, 'owner')), currentOwner());
  assert.deepEqual([...digestsInUse(jobsRoot)], ['ab'.repeat(32)]);
  assert.ok(fs.existsSync(path.join(dir.path, 'files/box/src/main.c')));
  await dir.remove();
  assert.deepEqual(fs.readdirSync(jobsRoot), []);
  await dir.remove(); // gone already: not an error
});

test('a job directory with something unexpected in it is removed the long way', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async () => {
  const dir = await madeAndUsed('sb-2');
  fs.mkdirSync(path.join(dir.path, 'rw/upper'), { recursive: true }); // a mount point not empty
  fs.writeFileSync(path.join(dir.path, 'stray'), '');
  await dir.remove();
  assert.deepEqual(fs.readdirSync(jobsRoot), []);
});
