import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJobSpec } from '../../../src/job/spec.ts';

test('defaults fill an almost empty spec', () => {
  const s = parseJobSpec({ cmd: ['true'] });
  assert.equal(s.image, 'busybox');
  // Left unset: the runner takes them from the image's config, else /box and 1000:1000.
  assert.equal(s.cwd, undefined);
  assert.equal(s.user, undefined);
  assert.equal(parseJobSpec({}).cmd, undefined, 'cmd may come from the image too');
  assert.equal(s.limits.wallMs, 10_000);
  assert.equal(s.limits.memoryBytes, 256 * 1024 * 1024);
  assert.equal(s.network, 'none');
});

test('bad specs fail with every problem named by its path', () => {
  assert.throws(
    () => parseJobSpec({ cmd: [], limits: { wallMs: -1 }, files: [{ path: '../x', content: '' }], extra: 1 }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INVALID_JOB');
      assert.match(err.message, /cmd:/);
      assert.match(err.message, /limits\.wallMs/);
      assert.match(err.message, /files\.0\.path: must not contain "\.\." segments/);
      assert.match(err.message, /extra/);
      return true;
    },
  );
});

test('files larger than the disk limit are refused', () => {
  assert.throws(() => parseJobSpec({ cmd: ['true'], limits: { diskBytes: 1024 * 1024 }, files: [{ path: 'a', content: 'x'.repeat(1024 * 1024 + 1) }] }), /do not fit limits\.diskBytes/);
});

test('env names and NUL bytes are checked', () => {
  assert.throws(() => parseJobSpec({ cmd: ['true'], env: { 'A=B': 'x' } }), /env/);
  assert.throws(() => parseJobSpec({ cmd: ['a\0b'] }), /NUL/);
});
