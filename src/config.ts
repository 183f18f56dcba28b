// Worker and CLI configuration: defaults < environment < flags, validated once at
// start-up. A bad value fails with INVALID_CONFIG naming the variable or flag it came from.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { CellblockError } from './errors.ts';

export interface CellblockConfig {
  /** Root of cellblock's state on disk: images/, jobs/, uids/. */
  stateDir: string;
  redisUrl: string;
  queueName: string;
  /** Jobs one worker runs at once. */
  concurrency: number;
  logLevel: LogLevel;
  /** First host uid/gid of the ranges jobs are mapped to. */
  uidBase: number;
  /** How many ranges of 65536 ids may be handed out (= jobs at once on this host). */
  uidRanges: number;
  /** Recorded in every JobResult and on every BullMQ job this worker takes. */
  workerId: string;
  /** Name of the cgroup made below the worker's own cgroup to hold the job cgroups. */
  cgroupParent: string;
  /** On SIGTERM/SIGINT, how long running jobs may go on before they are killed and handed back. */
  shutdownGraceMs: number;
  /** BullMQ job lock: a worker that stops renewing it (dead) loses its jobs after this long. */
  lockMs: number;
  /** Prometheus /metrics and /health on this port (0: off). */
  metricsPort: number;
  metricsHost: string;
  /** Jobs of one tenant running at once across all workers (0: no limit). */
  tenantMaxRunning: number;
  /** BullMQ rate limit: at most rateMax jobs per rateDurationMs per queue (0: off). */
  rateMax: number;
  rateDurationMs: number;
  /** Redis Sentinel: "host:port,host:port" and the master's name (instead of REDIS_URL's host). */
  redisSentinels: string;
  redisSentinelName: string;
  /** Redis Cluster: "host:port,host:port" seed nodes (instead of REDIS_URL's host). */
  redisClusterNodes: string;
  /** BullMQ key prefix; on a Cluster it must be a hash tag like {cellblock}. */
  redisPrefix: string;
  /** Where files out too large for a result are written (per job); '' = refuse them. */
  resultsDir: string;
  /** `cellblock serve`: the HTTP API's port and address. */
  apiPort: number;
  apiHost: string;
  /** `cellblock serve`: requests must carry `Authorization: Bearer <token>` ('': no auth). */
  apiToken: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Raw values as they come from parseArgs: strings (or numbers from callers). */
export type ConfigFlags = Partial<Record<keyof CellblockConfig, string | number | undefined>>;

const UID_RANGE_SIZE = 65_536;
/** uid_t is 32 bits and (uid_t)-1 means "no change", so the last usable id is 2^32 - 2. */
const UID_MAX = 2 ** 32 - 2;

interface Field {
  env: string;
  flag: string;
  /** For --help: what the value is, after the flag (e.g. "DIR"). */
  arg: string;
  help: string;
  schema: z.ZodType;
  defaultValue: () => string | number;
}

const hostPorts = z
  .string()
  .trim()
  .refine((v) => v === '' || v.split(',').every((hp) => /^[^\s:,]+:\d{1,5}$/.test(hp.trim())), 'must be host:port[,host:port...]');

const integer = (min: number, max: number) =>
  z
    .union([z.number(), z.string().trim()])
    .transform((v, ctx) => {
      if (typeof v === 'number') return v;
      // Hex is accepted because uid bases are usually written that way (0x40000000).
      if (/^0x[0-9a-f]+$/i.test(v)) return Number.parseInt(v.slice(2), 16);
      if (/^[0-9]+$/.test(v)) return Number.parseInt(v, 10);
      ctx.addIssue({ code: 'custom', message: `must be an integer, got ${JSON.stringify(v)}` });
      return z.NEVER;
    })
    .pipe(z.number().int(`must be an integer`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const FIELDS: Record<keyof CellblockConfig, Field> = {
  stateDir: {
    env: 'CELLBLOCK_STATE_DIR',
    flag: '--state-dir',
    arg: 'DIR',
    help: 'state root (images/, jobs/, uids/); default /var/lib/cellblock',
    schema: z
      .string()
      .min(1, 'must not be empty')
      .refine((p) => !p.includes('\0'), 'must not contain NUL')
      .transform((p) => path.resolve(p)),
    defaultValue: () => '/var/lib/cellblock',
  },
  redisUrl: {
    env: 'REDIS_URL',
    flag: '--redis-url',
    arg: 'URL',
    help: 'default redis://127.0.0.1:6379',
    schema: z.string().refine((u) => {
      try {
        const url = new URL(u);
        return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
      } catch {
        return false;
      }
    }, 'must be a URL like redis://host:6379 or rediss://user:password@host:6380/0'),
    defaultValue: () => 'redis://127.0.0.1:6379',
  },
  queueName: {
    env: 'CELLBLOCK_QUEUE',
    flag: '--queue',
    arg: 'NAME',
    help: 'default cellblock',
    // BullMQ forbids ':' (its key separator); the rest keeps Redis keys readable.
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit'),
    defaultValue: () => 'cellblock',
  },
  concurrency: {
    env: 'CELLBLOCK_CONCURRENCY',
    flag: '--concurrency',
    arg: 'N',
    help: 'jobs at once; default: number of cores',
    schema: integer(1, 4096),
    defaultValue: () => os.availableParallelism(),
  },
  logLevel: {
    env: 'CELLBLOCK_LOG_LEVEL',
    flag: '--log-level',
    arg: 'LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent; default info',
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
    defaultValue: () => 'info',
  },
  uidBase: {
    env: 'CELLBLOCK_UID_BASE',
    flag: '--uid-base',
    arg: 'N',
    help: 'first host uid of job ranges; default 0x40000000',
    // Below 65536 the ranges would overlap ordinary host users.
    schema: integer(UID_RANGE_SIZE, UID_MAX),
    defaultValue: () => 0x4000_0000,
  },
  uidRanges: {
    env: 'CELLBLOCK_UID_RANGES',
    flag: '--uid-ranges',
    arg: 'N',
    help: 'ranges of 65536 uids (max jobs at once on a host); default 1024',
    schema: integer(1, 65_535),
    defaultValue: () => 1024,
  },
  workerId: {
    env: 'CELLBLOCK_WORKER_ID',
    flag: '--worker-id',
    arg: 'ID',
    help: 'default hostname:pid',
    schema: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9._:@-]'),
    defaultValue: () => `${os.hostname()}:${process.pid}`,
  },
  cgroupParent: {
    env: 'CELLBLOCK_CGROUP_PARENT',
    flag: '--cgroup-parent',
    arg: 'NAME',
    help: "cgroup below the worker's own for job cgroups; default cellblock",
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]'),
    defaultValue: () => 'cellblock',
  },
  shutdownGraceMs: {
    env: 'CELLBLOCK_SHUTDOWN_GRACE_MS',
    flag: '--shutdown-grace-ms',
    arg: 'MS',
    help: 'on SIGTERM, how long running jobs may finish before they are killed and handed back; default 30000',
    schema: integer(0, 24 * 3600 * 1000),
    defaultValue: () => 30_000,
  },
  lockMs: {
    env: 'CELLBLOCK_LOCK_MS',
    flag: '--lock-ms',
    arg: 'MS',
    help: "a dead worker's jobs go back to the queue after this long; default 30000",
    schema: integer(1000, 3600 * 1000),
    defaultValue: () => 30_000,
  },
  metricsPort: {
    env: 'CELLBLOCK_METRICS_PORT',
    flag: '--metrics-port',
    arg: 'PORT',
    help: 'serve Prometheus /metrics and /health here; default 0 (off)',
    schema: integer(0, 65_535),
    defaultValue: () => 0,
  },
  metricsHost: {
    env: 'CELLBLOCK_METRICS_HOST',
    flag: '--metrics-host',
    arg: 'ADDR',
    help: 'address the metrics server listens on; default 127.0.0.1',
    schema: z.string().min(1),
    defaultValue: () => '127.0.0.1',
  },
  tenantMaxRunning: {
    env: 'CELLBLOCK_TENANT_MAX_RUNNING',
    flag: '--tenant-max-running',
    arg: 'N',
    help: "jobs of one tenant running at once, across all workers; default 0 (no limit)",
    schema: integer(0, 1_000_000),
    defaultValue: () => 0,
  },
  rateMax: {
    env: 'CELLBLOCK_RATE_MAX',
    flag: '--rate-max',
    arg: 'N',
    help: 'at most N jobs started per --rate-duration-ms on the queue; default 0 (off)',
    schema: integer(0, 1_000_000),
    defaultValue: () => 0,
  },
  rateDurationMs: {
    env: 'CELLBLOCK_RATE_DURATION_MS',
    flag: '--rate-duration-ms',
    arg: 'MS',
    help: 'the rate limit window; default 1000',
    schema: integer(1, 3600 * 1000),
    defaultValue: () => 1000,
  },
  redisSentinels: {
    env: 'REDIS_SENTINELS',
    flag: '--redis-sentinels',
    arg: 'H:P,...',
    help: "Redis Sentinel nodes; REDIS_URL then gives only password and db",
    schema: hostPorts,
    defaultValue: () => '',
  },
  redisSentinelName: {
    env: 'REDIS_SENTINEL_NAME',
    flag: '--redis-sentinel-name',
    arg: 'NAME',
    help: 'the master name the sentinels know; default mymaster',
    schema: z.string().min(1),
    defaultValue: () => 'mymaster',
  },
  redisClusterNodes: {
    env: 'REDIS_CLUSTER_NODES',
    flag: '--redis-cluster-nodes',
    arg: 'H:P,...',
    help: 'Redis Cluster seed nodes; REDIS_URL then gives only the password',
    schema: hostPorts,
    defaultValue: () => '',
  },
  resultsDir: {
    env: 'CELLBLOCK_RESULTS_DIR',
    flag: '--results-dir',
    arg: 'DIR',
    help: 'files out too large to return in a result (over 1 MiB) are written below DIR/<job>/; default: refused',
    schema: z.string().refine((p) => !p.includes('\0'), 'must not contain NUL').transform((p) => (p === '' ? '' : path.resolve(p))),
    defaultValue: () => '',
  },
  redisPrefix: {
    env: 'CELLBLOCK_REDIS_PREFIX',
    flag: '--redis-prefix',
    arg: 'PREFIX',
    help: 'BullMQ key prefix; default bull ({cellblock} on a Cluster: keys of a queue must share a slot)',
    schema: z.string().regex(/^([A-Za-z0-9{}_.-]{1,64})?$/, 'must be 1-64 characters of [A-Za-z0-9{}_.-]'),
    defaultValue: () => '',
  },
  apiPort: {
    env: 'CELLBLOCK_API_PORT',
    flag: '--api-port',
    arg: 'PORT',
    help: 'cellblock serve: HTTP API port; default 8080',
    schema: integer(0, 65_535),
    defaultValue: () => 8080,
  },
  apiHost: {
    env: 'CELLBLOCK_API_HOST',
    flag: '--api-host',
    arg: 'ADDR',
    help: 'cellblock serve: address the HTTP API listens on; default 127.0.0.1',
    schema: z.string().min(1),
    defaultValue: () => '127.0.0.1',
  },
  apiToken: {
    env: 'CELLBLOCK_API_TOKEN',
    flag: '--api-token',
    arg: 'TOKEN',
    help: 'cellblock serve: require "Authorization: Bearer TOKEN" (prefer the variable: flags show in ps); default none',
    schema: z.string().refine((t) => !/[\s\0]/.test(t), 'must not contain whitespace'),
    defaultValue: () => '',
  },
};

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
}

/** Resolve the configuration; throws CellblockError('INVALID_CONFIG') listing every bad value. */
export function loadConfig({ env = process.env, flags = {} }: LoadConfigOptions = {}): CellblockConfig {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const sources: Record<string, string> = {};

  for (const key of Object.keys(FIELDS) as (keyof CellblockConfig)[]) {
    const field = FIELDS[key];
    const flagValue = flags[key];
    const envValue = env[field.env];
    let raw: string | number;
    let source: string;
    if (flagValue !== undefined) {
      raw = flagValue;
      source = field.flag;
    } else if (envValue !== undefined && envValue !== '') {
      raw = envValue;
      source = field.env;
    } else {
      raw = field.defaultValue();
      source = `default of ${field.env}`;
    }
    sources[key] = source;
    const parsed = field.schema.safeParse(raw);
    if (parsed.success) {
      out[key] = parsed.data;
    } else {
      const shown = key === 'redisUrl' ? redactUrl(String(raw)) : key === 'apiToken' ? '(redacted)' : JSON.stringify(raw);
      problems.push(`${source}=${shown}: ${parsed.error.issues.map((i) => i.message).join(', ')}`);
    }
  }

  if (problems.length === 0) {
    const c = out as unknown as CellblockConfig;
    const lastUid = c.uidBase + c.uidRanges * UID_RANGE_SIZE - 1;
    if (lastUid > UID_MAX) {
      problems.push(
        `${sources.uidBase} + ${sources.uidRanges}: ${c.uidRanges} ranges of ${UID_RANGE_SIZE} from ${c.uidBase} end at ${lastUid}, past the largest uid ${UID_MAX}; lower one of them`,
      );
    }
    // The default follows the cores, which may outnumber the ranges: then the ranges cap it.
    if (c.concurrency > c.uidRanges && sources.concurrency?.startsWith('default') === true) c.concurrency = c.uidRanges;
    if (c.concurrency > c.uidRanges) {
      problems.push(
        `${sources.concurrency}=${c.concurrency}: more than ${sources.uidRanges}=${c.uidRanges}; every running job needs its own uid range, so raise the ranges or lower the concurrency`,
      );
    }
  }

  if (problems.length > 0) {
    throw new CellblockError('INVALID_CONFIG', `invalid configuration: ${problems.join('; ')}`);
  }
  const config = out as unknown as CellblockConfig;
  if (config.redisPrefix === '') config.redisPrefix = config.redisClusterNodes === '' ? 'bull' : '{cellblock}';
  return config;
}

/** Settings with a flag every subcommand accepts (concurrency is the worker's and demo's own). */
const COMMON_KEYS = (Object.keys(FIELDS) as (keyof CellblockConfig)[]).filter((k) => k !== 'concurrency');

/** parseArgs option definitions for every config flag, so each subcommand accepts the same ones. */
export const CONFIG_FLAG_OPTIONS: Record<string, { type: 'string' }> = Object.fromEntries(
  COMMON_KEYS.map((k) => [FIELDS[k].flag.slice(2), { type: 'string' as const }]),
);

/** Map parsed flag values (kebab-case keys) to ConfigFlags. */
export function configFlagsFrom(values: Record<string, string | boolean | (string | boolean)[] | undefined>): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const k of COMMON_KEYS) {
    const v = values[FIELDS[k].flag.slice(2)];
    if (typeof v === 'string') flags[k] = v;
  }
  return flags;
}

/** The help text's description of every setting a subcommand accepts. */
export function configHelp(): string {
  const rows = COMMON_KEYS.map((k) => [`${FIELDS[k].flag} ${FIELDS[k].arg}`, FIELDS[k].env, FIELDS[k].help] as const);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([f, e, d]) => `  ${f.padEnd(w0)}  ${e.padEnd(w1)}  ${d}`).join('\n');
}

/** A Redis URL fit for logs and error messages: the password replaced. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = 'redacted';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
