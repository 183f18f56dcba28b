// Redis connections for BullMQ. The caller that creates one owns it and quits it:
// BullMQ leaves connections it was handed open (it only closes the duplicates it makes).
import { Redis } from 'ioredis';
import { redactUrl } from '../config.ts';

/**
 * An ioredis connection fit for every BullMQ class: `maxRetriesPerRequest: null`
 * because workers and QueueEvents block on Redis and must never give up a command
 * while Redis restarts; they wait for the reconnect instead.
 */
export function createRedisConnection(url: string, connectionName = 'cellblock'): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName });
}

/**
 * Fail fast with a readable message when Redis is not there: the connections above
 * retry forever by design, which from a CLI would look like a hang.
 */
export async function pingRedis(url: string, timeoutMs = 3000): Promise<void> {
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
