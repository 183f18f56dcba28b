// BullMQ states as the HTTP API reports them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { apiStatus, jobView } from '../../../src/api/status.ts';
import type { JobResult } from '../../../src/job/result.ts';

describe('apiStatus', () => {
  test('waiting, delayed, prioritized and waiting-children are queued', () => {
    for (const s of ['waiting', 'delayed', 'prioritized', 'waiting-children']) assert.equal(apiStatus(s), 'queued', s);
  });
  test('active is running, completed is done, failed is failed', () => {
    assert.equal(apiStatus('active'), 'running');
    assert.equal(apiStatus('completed'), 'done');
    assert.equal(apiStatus('failed'), 'failed');
  });
  test('unknown (gone) has no status', () => {
    assert.equal(apiStatus('unknown'), undefined);
  });
});

describe('jobView', () => {
  const result = { jobId: 'j', verdict: 'CANCELLED' } as JobResult;
  test('a done job carries its result and times', () => {
    const v = jobView({ id: '7', state: 'completed', createdAt: 0, startedAt: 1000, finishedAt: 2000, result });
    assert.deepEqual(v, {
      id: '7',
      status: 'done',
      createdAt: '1970-01-01T00:00:00.000Z',
      startedAt: '1970-01-01T00:00:01.000Z',
      finishedAt: '1970-01-01T00:00:02.000Z',
      result,
    });
  });
  test('a failed job carries its reason and no result', () => {
    const v = jobView({ id: '8', state: 'failed', createdAt: 0, finishedAt: 5, failedReason: 'IMAGE_NOT_FOUND: nope' });
    assert.equal(v?.status, 'failed');
    assert.equal(v?.reason, 'IMAGE_NOT_FOUND: nope');
    assert.equal(v?.result, undefined);
  });
  test('a queued job shows no start (a re-queued job keeps BullMQ\'s old processedOn)', () => {
    const v = jobView({ id: '9', state: 'waiting', createdAt: 0, startedAt: 3 });
    assert.deepEqual(v, { id: '9', status: 'queued', createdAt: '1970-01-01T00:00:00.000Z' });
  });
  test('a job in state unknown has no view', () => {
    assert.equal(jobView({ id: '10', state: 'unknown', createdAt: 0 }), undefined);
  });
});
