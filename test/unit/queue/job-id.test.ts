import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxJobId } from '../../../src/queue/job-id.ts';

describe('sandboxJobId', () => {
  it('is readable and safe for ordinary ids', () => {
    const id = sandboxJobId('cellblock', '42', 1);
    assert.match(id, /^cellblock-42-a1-[0-9a-f]{10}$/);
  });

  it('differs across queues, jobs and attempts', () => {
    const ids = [sandboxJobId('q', '1', 1), sandboxJobId('q', '1', 2), sandboxJobId('q', '2', 1), sandboxJobId('r', '1', 1), sandboxJobId('a-b', 'c', 1), sandboxJobId('a', 'b-c', 1)];
    assert.equal(new Set(ids).size, ids.length);
  });

  it('stays within [A-Za-z0-9_-]{1,64} whatever the input', () => {
    for (const [q, j] of [['queue.with.dots', 'id:with/odd chars'], ['x'.repeat(200), 'y'.repeat(200)], ['q', '../../etc']] as const) {
      assert.match(sandboxJobId(q, j, 123), /^[A-Za-z0-9_-]{1,64}$/);
    }
  });
});
