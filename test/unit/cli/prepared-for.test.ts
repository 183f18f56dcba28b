// How many sandboxes a worker keeps prepared: its concurrency, as far as spare uid ranges allow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preparedFor } from '../../../src/cli/common.ts';

test('one prepared sandbox per job at once, when the uid ranges leave room', () => {
  assert.equal(preparedFor({ concurrency: 2, uidRanges: 1024 }), 2);
  assert.equal(preparedFor({ concurrency: 4, uidRanges: 8 }), 4);
});

test('no more than the ranges the running jobs leave: a prepared sandbox holds one too', () => {
  assert.equal(preparedFor({ concurrency: 4, uidRanges: 6 }), 2);
  assert.equal(preparedFor({ concurrency: 2, uidRanges: 2 }), 0);
});
