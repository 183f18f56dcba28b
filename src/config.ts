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
  schema: z.ZodType;
  defaultValue: () => string | number;
}

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
    // BullMQ forbids ':' (its key separator); the rest keeps Redis keys readable.
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit'),
    defaultValue: () => 'cellblock',
  },
  concurrency: {
    env: 'CELLBLOCK_CONCURRENCY',
    flag: '--concurrency',
    schema: integer(1, 4096),
    defaultValue: () => os.availableParallelism(),
  },
  logLevel: {
    env: 'CELLBLOCK_LOG_LEVEL',
    flag: '--log-level',
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
    defaultValue: () => 'info',
  },
  uidBase: {
    env: 'CELLBLOCK_UID_BASE',
    flag: '--uid-base',
    // Below 65536 the ranges would overlap ordinary host users.
    schema: integer(UID_RANGE_SIZE, UID_MAX),
    defaultValue: () => 0x4000_0000,
  },
  uidRanges: {
    env: 'CELLBLOCK_UID_RANGES',
    flag: '--uid-ranges',
    schema: integer(1, 65_535),
    defaultValue: () => 1024,
  },
  workerId: {
    env: 'CELLBLOCK_WORKER_ID',
    flag: '--worker-id',
    schema: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9._:@-]'),
    defaultValue: () => `${os.hostname()}:${process.pid}`,
  },
  cgroupParent: {
    env: 'CELLBLOCK_CGROUP_PARENT',
    flag: '--cgroup-parent',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9_-]'),
    defaultValue: () => 'cellblock',
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
      const shown = key === 'redisUrl' ? redactUrl(String(raw)) : JSON.stringify(raw);
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
  return out as unknown as CellblockConfig;
}

/** parseArgs option definitions for every config flag, so each subcommand accepts the same ones. */
export const CONFIG_FLAG_OPTIONS = {
  'state-dir': { type: 'string' },
  'redis-url': { type: 'string' },
  queue: { type: 'string' },
  'log-level': { type: 'string' },
  'uid-base': { type: 'string' },
  'uid-ranges': { type: 'string' },
  'worker-id': { type: 'string' },
} as const;

/** Map parsed flag values (kebab-case keys) to ConfigFlags. */
export function configFlagsFrom(values: Record<string, string | boolean | (string | boolean)[] | undefined>): ConfigFlags {
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    stateDir: str('state-dir'),
    redisUrl: str('redis-url'),
    queueName: str('queue'),
    concurrency: str('concurrency'),
    logLevel: str('log-level'),
    uidBase: str('uid-base'),
    uidRanges: str('uid-ranges'),
    workerId: str('worker-id'),
  };
}

/** The help text's description of every setting. */
export function configHelp(): string {
  const rows: [string, string, string][] = [
    ['--state-dir DIR', FIELDS.stateDir.env, 'state root (images/, jobs/); default /var/lib/cellblock'],
    ['--redis-url URL', FIELDS.redisUrl.env, 'default redis://127.0.0.1:6379'],
    ['--queue NAME', FIELDS.queueName.env, 'default cellblock'],
    ['--log-level L', FIELDS.logLevel.env, `${LOG_LEVELS.join('|')}; default info`],
    ['--uid-base N', FIELDS.uidBase.env, 'first host uid of job ranges; default 0x40000000'],
    ['--uid-ranges N', FIELDS.uidRanges.env, 'ranges of 65536 uids (max jobs at once); default 1024'],
    ['--worker-id ID', FIELDS.workerId.env, 'default hostname:pid'],
  ];
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
