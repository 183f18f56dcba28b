import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CappedOutput } from '../../../src/sandbox/output.ts';

test('keeps the first bytes up to the limit and reports the overflow once', () => {
  let overflows = 0;
  const out = new CappedOutput(5, () => overflows++);
  out.push(Buffer.from('abc'));
  assert.equal(out.truncated, false);
  out.push(Buffer.from('defg'));
  out.push(Buffer.from('hij'));
  assert.equal(out.text(), 'abcde');
  assert.equal(out.truncated, true);
  assert.equal(overflows, 1);
});

test('exactly the limit is not truncated; a zero limit keeps nothing', () => {
  const exact = new CappedOutput(3, () => assert.fail('no overflow'));
  exact.push(Buffer.from('abc'));
  assert.equal(exact.text(), 'abc');
  let hit = false;
  const none = new CappedOutput(0, () => { hit = true; });
  none.push(Buffer.from('x'));
  assert.equal(none.text(), '');
  assert.equal(hit, true);
});
