// Recipe scripts that cannot run say which apt package to install.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildRecipe } from '../../../src/image/recipes.ts';
import { ImageStore } from '../../../src/image/store.ts';
import { tempDir } from './helpers.ts';

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('recipe errors', () => {
  const store = new ImageStore(tempDir('store'));
  const cacheDir = tempDir('cache');

  it('names busybox-static when busybox is missing', async () => {
    await withEnv({ BUSYBOX: '/nonexistent/busybox' }, () =>
      assert.rejects(buildRecipe('busybox', { store, cacheDir, tty: false }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'IMAGE_INVALID');
        assert.match(err.message, /apt-get install busybox-static/);
        return true;
      }));
  });

  it('names mmdebstrap when it is missing', async () => {
    // A PATH with bash and nothing else: the script must stop at its tool check.
    const bin = tempDir('bin');
    symlinkSync('/bin/bash', path.join(bin, 'bash'));
    await withEnv({ PATH: bin }, () =>
      assert.rejects(buildRecipe('toolchain', { store, cacheDir, tty: false }), /mmdebstrap not found; install it with: apt-get install mmdebstrap/));
  });

  it('reports the last lines of a failing script', async () => {
    const recipes = tempDir('recipes');
    mkdirSync(path.join(recipes, 'broken'));
    writeFileSync(path.join(recipes, 'broken', 'build.sh'), 'echo step one\necho "it broke" >&2\nexit 3\n');
    await assert.rejects(buildRecipe('broken', { store, cacheDir, recipesDir: recipes, tty: false }), (err: Error) => {
      assert.match(err.message, /failed \(exit 3\)/);
      assert.match(err.message, /it broke/);
      return true;
    });
  });
});
