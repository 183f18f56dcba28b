// Redis connections for BullMQ. The caller that creates one owns it and quits it:
// BullMQ leaves connections it was handed open (it only closes the duplicates it makes).
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redactUrl, type CellblockConfig } from '../config.ts';

/** Where Redis is: one server (url), a Sentinel-managed master, or a Cluster. */
export interface RedisTarget {
  /** One server; with sentinels or cluster nodes only its password and db count. */
  url: string;
  /** "host:port,host:port" */
  sentinels?: string;
  sentinelName?: string;
  /** "host:port,host:port" */
  clusterNodes?: string;
  /** BullMQ key prefix (default "bull"); on a Cluster a hash tag such as {cellblock}. */
  prefix?: string;
}

export type RedisConnection = Redis | Cluster;

export function redisTargetFrom(c: CellblockConfig): RedisTarget {
  return { url: c.redisUrl, sentinels: c.redisSentinels, sentinelName: c.redisSentinelName, clusterNodes: c.redisClusterNodes, prefix: c.redisPrefix };
}

const asTarget = (t: RedisTarget | string): RedisTarget => (typeof t === 'string' ? { url: t } : t);

function hostPorts(list: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const i = hp.trim().lastIndexOf(':');
    return { host: hp.trim().slice(0, i), port: Number(hp.trim().slice(i + 1)) };
  });
}

/** Password, user and db of the URL, for sentinel and cluster set-ups. */
function credentials(url: string): Pick<RedisOptions, 'username' | 'password' | 'db'> {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || '0');
  return {
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    db: Number.isInteger(db) ? db : 0,
  };
}

/** Human-readable target for logs and errors, without secrets. */
export function describeTarget(t: RedisTarget | string): string {
  const target = asTarget(t);
  if (target.clusterNodes) return `cluster ${target.clusterNodes}`;
  if (target.sentinels) return `sentinel ${target.sentinelName ?? 'mymaster'} at ${target.sentinels}`;
  return redactUrl(target.url);
}

/**
 * An ioredis connection fit for every BullMQ class: `maxRetriesPerRequest: null`
 * because workers and QueueEvents block on Redis and must never give up a command
 * while Redis restarts; they wait for the reconnect instead.
 */
export function createRedisConnection(t: RedisTarget | string, connectionName = 'cellblock', extra: RedisOptions = {}): RedisConnection {
  const target = asTarget(t);
  const base: RedisOptions = { maxRetriesPerRequest: null, connectionName, ...extra };
  if (target.clusterNodes) {
    return new Cluster(hostPorts(target.clusterNodes), { redisOptions: { ...base, ...credentials(target.url) } });
  }
  if (target.sentinels) {
    return new Redis({ ...base, ...credentials(target.url), sentinels: hostPorts(target.sentinels), name: target.sentinelName ?? 'mymaster' });
  }
  return new Redis(target.url, base);
}

/**
 * Fail fast with a readable message when Redis is not there: the connections above
 * retry forever by design, which from a CLI would look like a hang.
 */
export async function pingRedis(t: RedisTarget | string, timeoutMs = 3000): Promise<void> {
  const target = asTarget(t);
  if (target.clusterNodes || target.sentinels) {
    // Their clients find the servers themselves; one bounded PING through them is the check.
    const probe = createRedisConnection(target, 'cellblock-ping');
    probe.on('error', () => {});
    try {
      await withTimeout(probe.ping(), timeoutMs);
    } catch (err) {
      throw new Error(`cannot reach Redis (${describeTarget(target)}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      probe.disconnect();
    }
    return;
  }
  const url = target.url;
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
  });
  // Without a listener an unreachable Redis would surface as an unhandled 'error' event;
  // the event also says why (ECONNREFUSED, ...), where connect() only says "closed".
  let cause: Error | undefined;
  probe.on('error', (err: Error) => {
    cause ??= err;
  });
  try {
    await withTimeout(
      (async () => {
        await probe.connect();
        await probe.ping();
      })(),
      timeoutMs,
    );
  } catch (err) {
    const why = (cause ?? (err instanceof Error ? err : undefined))?.message ?? String(err);
    throw new Error(`cannot reach Redis at ${redactUrl(url)} (${why}); start one or point REDIS_URL / --redis-url at it`, { cause: err });
  } finally {
    probe.disconnect();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
