// An image's config.json: the defaults a job gets from its image. Checked when
// written and when read back, since a hand-edited or truncated file must fail
// as IMAGE_INVALID, not as a job that runs with half a config.
import fs from 'node:fs';
import { z } from 'zod';
import { CellblockError, errorMessage } from '../errors.ts';
import type { ImageConfig } from './types.ts';

// Values end up in the launcher's NUL-separated config: a NUL would forge a line.
const noNul = z.string().refine((s) => !s.includes('\0'), 'must not contain NUL');

const ImageConfigSchema = z.strictObject({
  env: z.record(z.string().regex(/^[^=\0]+$/, 'environment variable names must be non-empty, without "=" or NUL'), noNul),
  workingDir: noNul.startsWith('/').refine((p) => !p.split('/').includes('..'), 'must not contain ".."').optional(),
  user: z.string().regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}(:[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63})?$/, 'must be "user[:group]" (names or numbers)').optional(),
  entrypoint: z.array(noNul).min(1).optional(),
  cmd: z.array(noNul).min(1).optional(),
});

/** What an image imported without a config gets: just a PATH. */
export const DEFAULT_CONFIG: ImageConfig = {
  env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
};

export function parseImageConfig(value: unknown, where: string): ImageConfig {
  const parsed = ImageConfigSchema.safeParse(value);
  if (!parsed.success) {
    throw new CellblockError('IMAGE_INVALID', `bad image config in ${where}: ${z.prettifyError(parsed.error)}`);
  }
  const { env, workingDir, user, entrypoint, cmd } = parsed.data;
  return {
    env,
    ...(workingDir !== undefined && { workingDir }),
    ...(user !== undefined && { user }),
    ...(entrypoint !== undefined && { entrypoint }),
    ...(cmd !== undefined && { cmd }),
  };
}

export function readImageConfig(file: string): ImageConfig {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CellblockError('IMAGE_INVALID', `cannot read image config ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parseImageConfig(value, file);
}

export function sameConfig(a: ImageConfig, b: ImageConfig): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(c: ImageConfig): ImageConfig {
  const env = Object.fromEntries(Object.entries(c.env).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return { env, workingDir: c.workingDir, user: c.user, entrypoint: c.entrypoint, cmd: c.cmd };
}

/**
 * The job defaults in an OCI or Docker image config (its `config` object: Env,
 * WorkingDir, User, Entrypoint, Cmd). Anything we cannot pass on safely is
 * refused here, with the field named, rather than at job time.
 */
export function fromOciConfig(value: unknown, where: string): ImageConfig {
  const c = (isObject(value) && isObject(value.config) ? value.config : {}) as Record<string, unknown>;
  const env: Record<string, string> = {};
  if (Array.isArray(c.Env)) {
    for (const kv of c.Env) {
      if (typeof kv !== 'string') continue;
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  if (env.PATH === undefined && DEFAULT_CONFIG.env.PATH !== undefined) env.PATH = DEFAULT_CONFIG.env.PATH;
  const strings = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
  const out: Record<string, unknown> = { env };
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') out.workingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User !== '') out.user = c.User;
  const entrypoint = strings(c.Entrypoint);
  if (entrypoint !== undefined) out.entrypoint = entrypoint;
  const cmd = strings(c.Cmd);
  if (cmd !== undefined) out.cmd = cmd;
  return parseImageConfig(out, where);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
