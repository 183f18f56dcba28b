// An image's config.json: the defaults a job gets from its image. Checked when
// written and when read back, since a hand-edited or truncated file must fail
// as IMAGE_INVALID, not as a job that runs with half a config.
import fs from 'node:fs';
import { z } from 'zod';
import { CellblockError, errorMessage } from '../errors.ts';
import type { ImageConfig } from './types.ts';

const ImageConfigSchema = z.strictObject({
  env: z.record(z.string(), z.string()),
  workingDir: z.string().startsWith('/').optional(),
  user: z.string().regex(/^\d+(:\d+)?$/, 'must be "uid[:gid]"').optional(),
  cmd: z.array(z.string()).min(1).optional(),
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
  const { env, workingDir, user, cmd } = parsed.data;
  return {
    env,
    ...(workingDir !== undefined && { workingDir }),
    ...(user !== undefined && { user }),
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
  return { env, workingDir: c.workingDir, user: c.user, cmd: c.cmd };
}
