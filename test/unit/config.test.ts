// Config: defaults < environment < flags; every bad value named by its variable or flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { loadConfig, redactUrl } from '../../src/config.ts';
import { CellblockError } from '../../src/errors.ts';

function invalid(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CellblockError, `expected CellblockError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_CONFIG');
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.stateDir, '/var/lib/cellblock');
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.queueName, 'cellblock');
    assert.equal(c.concurrency, os.availableParallelism());
    assert.equal(c.logLevel, 'info');
    assert.equal(c.uidBase, 0x40000000);
    assert.equal(c.uidRanges, 1024);
    assert.equal(c.workerId, `${os.hostname()}:${process.pid}`);
    assert.equal(c.shutdownGraceMs, 30_000);
    assert.equal(c.lockMs, 30_000);
    assert.equal(c.metricsPort, 0);
    assert.equal(c.tenantMaxRunning, 0);
    assert.equal(c.redisPrefix, 'bull');
  });

  it('a Redis Cluster gets a hash-tagged prefix by default; host lists are checked', () => {
    assert.equal(loadConfig({ env: { REDIS_CLUSTER_NODES: 'a:7000,b:7001' } }).redisPrefix, '{cellblock}');
    assert.equal(loadConfig({ env: { REDIS_CLUSTER_NODES: 'a:7000', CELLBLOCK_REDIS_PREFIX: '{judge}' } }).redisPrefix, '{judge}');
    invalid(() => loadConfig({ env: { REDIS_SENTINELS: 'a:b' } }), /REDIS_SENTINELS/);
  });

  it('reads the environment, and flags win over it', () => {
    const env = {
      CELLBLOCK_STATE_DIR: '/srv/cb',
      REDIS_URL: 'redis://redis.internal:6380/2',
      CELLBLOCK_QUEUE: 'judge',
      CELLBLOCK_CONCURRENCY: '3',
      CELLBLOCK_LOG_LEVEL: 'debug',
      CELLBLOCK_UID_BASE: '0x50000000',
      CELLBLOCK_UID_RANGES: '16',
      CELLBLOCK_WORKER_ID: 'w1',
      CELLBLOCK_CGROUP_PARENT: 'cellblock-judge',
    };
    const c = loadConfig({ env });
    assert.deepEqual(pick(c, ['stateDir', 'redisUrl', 'queueName', 'concurrency', 'logLevel', 'uidBase', 'uidRanges', 'workerId', 'cgroupParent']), {
      stateDir: '/srv/cb',
      redisUrl: 'redis://redis.internal:6380/2',
      queueName: 'judge',
      concurrency: 3,
      logLevel: 'debug',
      uidBase: 0x50000000,
      uidRanges: 16,
      workerId: 'w1',
      cgroupParent: 'cellblock-judge',
    });
    const f = loadConfig({ env, flags: { concurrency: '5', queueName: 'other', stateDir: 'rel/dir' } });
    assert.equal(f.concurrency, 5);
    assert.equal(f.queueName, 'other');
    assert.equal(f.stateDir, `${process.cwd()}/rel/dir`, 'relative paths resolve against the cwd');
    assert.equal(f.redisUrl, env.REDIS_URL);
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ env: { CELLBLOCK_QUEUE: '' } }).queueName, 'cellblock');
  });

  it('names the variable of a bad value', () => {
    invalid(() => loadConfig({ env: { CELLBLOCK_CONCURRENCY: 'lots' } }), /CELLBLOCK_CONCURRENCY="lots": must be an integer/);
    invalid(() => loadConfig({ env: { CELLBLOCK_CONCURRENCY: '0' } }), /CELLBLOCK_CONCURRENCY="0": must be at least 1/);
    invalid(() => loadConfig({ env: { REDIS_URL: 'http://x' } }), /REDIS_URL=.*must be a URL like redis:\/\//);
    invalid(() => loadConfig({ env: { CELLBLOCK_LOG_LEVEL: 'loud' } }), /CELLBLOCK_LOG_LEVEL="loud": must be one of fatal, error/);
    invalid(() => loadConfig({ env: { CELLBLOCK_QUEUE: 'a:b' } }), /CELLBLOCK_QUEUE="a:b"/);
    invalid(() => loadConfig({ env: { CELLBLOCK_UID_BASE: '1000' } }), /CELLBLOCK_UID_BASE="1000": must be at least 65536/);
    invalid(() => loadConfig({ env: { CELLBLOCK_WORKER_ID: 'has space' } }), /CELLBLOCK_WORKER_ID/);
    invalid(() => loadConfig({ env: { CELLBLOCK_CGROUP_PARENT: '../escape' } }), /CELLBLOCK_CGROUP_PARENT/);
  });

  it('names the flag when the value came from a flag', () => {
    invalid(() => loadConfig({ env: { CELLBLOCK_CONCURRENCY: '2' }, flags: { concurrency: '-1' } }), /--concurrency="-1"/);
    invalid(() => loadConfig({ env: {}, flags: { uidRanges: '1.5' } }), /--uid-ranges="1.5": must be an integer/);
  });

  it('lists every problem at once', () => {
    invalid(() => loadConfig({ env: { CELLBLOCK_CONCURRENCY: 'x', CELLBLOCK_LOG_LEVEL: 'y' } }), /CELLBLOCK_CONCURRENCY.*; CELLBLOCK_LOG_LEVEL/);
  });

  it('checks that the uid ranges fit in 32 bits', () => {
    invalid(() => loadConfig({ env: { CELLBLOCK_UID_BASE: '0xF0000000', CELLBLOCK_UID_RANGES: '8192', CELLBLOCK_CONCURRENCY: '1' } }), /past the largest uid/);
  });

  it('caps the default concurrency (the core count) at the uid ranges', () => {
    assert.equal(loadConfig({ env: { CELLBLOCK_UID_RANGES: '1' } }).concurrency, 1);
  });

  it('refuses more concurrent jobs than uid ranges', () => {
    invalid(() => loadConfig({ env: { CELLBLOCK_UID_RANGES: '2' }, flags: { concurrency: '4' } }), /--concurrency=4: more than CELLBLOCK_UID_RANGES=2/);
  });

  it('never prints a Redis password', () => {
    assert.throws(
      () => loadConfig({ env: { REDIS_URL: 'redis://:s3cret@host:notaport' } }),
      (err: unknown) => err instanceof Error && !err.message.includes('s3cret'),
    );
    assert.equal(redactUrl('redis://user:s3cret@host:6379/0'), 'redis://user:redacted@host:6379/0');
  });
});
