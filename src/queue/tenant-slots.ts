// Per-tenant limit on running jobs, shared by every worker through Redis: one
// sorted set per tenant whose members are running jobs and whose scores are
// lease expiry times. A worker that dies stops renewing its leases, so its slots
// free themselves; no counter can be left stuck.
import type { RedisConnection } from './connection.ts';

// KEYS[1] set; ARGV: now, lease expiry, member, max. Returns 1 when taken.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return 1
end
return 0`;

export interface TenantSlot {
  release(): Promise<void>;
}

export class TenantSlots {
  constructor(
    private readonly redis: RedisConnection,
    /** Key prefix; includes the queue's hash tag on a Cluster so all keys share a slot. */
    private readonly keyPrefix: string,
    private readonly maxRunning: number,
    private readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private key(tenant: string): string {
    return `${this.keyPrefix}:tenant:${tenant}:running`;
  }

  private async take(tenant: string, member: string): Promise<boolean> {
    const now = this.now();
    const taken = await this.redis.eval(ACQUIRE, 1, this.key(tenant), now, now + this.leaseMs, member, this.maxRunning);
    return taken === 1;
  }

  /** A slot for `member` (a job), renewed until released; undefined when the tenant is at its limit. */
  async acquire(tenant: string, member: string): Promise<TenantSlot | undefined> {
    if (!(await this.take(tenant, member))) return undefined;
    const renew = setInterval(() => {
      this.take(tenant, member).catch(() => {
        // Redis away: the lease runs on until it comes back or expires.
      });
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    renew.unref();
    return {
      release: async () => {
        clearInterval(renew);
        await this.redis.zrem(this.key(tenant), member);
      },
    };
  }

  /** Jobs of `tenant` holding a slot now. */
  async running(tenant: string): Promise<number> {
    return this.redis.zcount(this.key(tenant), this.now(), '+inf');
  }
}
