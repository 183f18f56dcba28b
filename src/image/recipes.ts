// Image recipes: images/<name>/build.sh writes a rootfs tarball, which is cached in
// images/build/<name>.tar next to the hash of the recipe it came from, then
// imported as <name>:latest. An unchanged recipe skips the build, and the import
// of an unchanged tarball finds its digest already extracted.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CellblockError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { readImageConfig } from './config.ts';
import { hashRecipeDir } from './recipe-hash.ts';
import { runBuildScript } from './run-script.ts';
import type { ImageStore } from './store.ts';
import type { ResolvedImage } from './types.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_RECIPES_DIR = path.join(REPO, 'images');
export const DEFAULT_CACHE_DIR = path.join(REPO, 'images', 'build');

const RECIPE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export interface BuildRecipeOptions {
  store: ImageStore;
  recipesDir?: string;
  cacheDir?: string;
  log?: Logger;
  /** Rebuild even if the recipe is unchanged (e.g. to pick up new Debian packages). */
  force?: boolean;
  /** Show the script's own output on stderr; defaults to whether stderr is a terminal. */
  tty?: boolean;
  /** Keep setuid/setgid bits (see ImportOptions). */
  allowSetuid?: boolean;
}

export async function buildRecipe(name: string, opts: BuildRecipeOptions): Promise<ResolvedImage> {
  const recipesDir = opts.recipesDir ?? DEFAULT_RECIPES_DIR;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const log = (opts.log ?? silentLogger).child({ recipe: name });
  const recipeDir = path.join(recipesDir, name);
  const script = path.join(recipeDir, 'build.sh');
  if (!RECIPE_NAME.test(name) || !fs.existsSync(script)) {
    throw new CellblockError('IMAGE_NOT_FOUND', `no image recipe ${JSON.stringify(name)}: want ${script}; recipes here: ${availableRecipes(recipesDir).join(', ') || 'none'}`);
  }

  const tarball = path.join(cacheDir, `${name}.tar`);
  const stamp = `${tarball}.recipe-sha256`;
  const recipeHash = hashRecipeDir(recipeDir);
  if (!opts.force && fs.existsSync(tarball) && readStamp(stamp) === recipeHash) {
    log.info({ tarball }, 'recipe unchanged; using the cached tarball');
  } else {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Stamp first out, last in: a build that dies half way is never taken as current.
    fs.rmSync(stamp, { force: true });
    log.info({ tarball }, 'building image');
    const started = Date.now();
    await runBuildScript(script, [tarball], { cwd: recipeDir, log, tty: opts.tty ?? process.stderr.isTTY === true });
    if (!fs.existsSync(tarball)) throw new CellblockError('IMAGE_INVALID', `${script} succeeded but did not write ${tarball}`);
    fs.writeFileSync(stamp, `${recipeHash}\n`);
    log.info({ tarball, ms: Date.now() - started, bytes: fs.statSync(tarball).size }, 'image built');
  }

  const configFile = path.join(recipeDir, 'config.json');
  const config = fs.existsSync(configFile) ? readImageConfig(configFile) : undefined;
  const digestFile = `${tarball}.digest`;
  const knownDigest = readDigestStamp(digestFile, tarball);
  const image = await opts.store.importTarball(tarball, `${name}:latest`, {
    ...(config !== undefined && { config }),
    ...(knownDigest !== undefined && { knownDigest }),
    ...(opts.allowSetuid !== undefined && { allowSetuid: opts.allowSetuid }),
  });
  if (knownDigest !== image.digest) fs.writeFileSync(digestFile, `${image.digest} ${statKey(tarball)}\n`);
  return image;
}

/** What identifies the tarball's bytes without reading them, as git's index does. */
function statKey(file: string): string {
  const st = fs.statSync(file);
  return `${st.size} ${st.mtimeMs} ${st.ino}`;
}

/** The digest recorded for `tarball`, if the file is unchanged since it was recorded. */
function readDigestStamp(file: string, tarball: string): string | undefined {
  const text = readStamp(file);
  if (text === undefined) return undefined;
  const space = text.indexOf(' ');
  return space > 0 && text.slice(space + 1) === statKey(tarball) ? text.slice(0, space) : undefined;
}

function readStamp(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function availableRecipes(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, 'build.sh'))).sort();
  } catch {
    return [];
  }
}
