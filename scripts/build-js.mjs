// Bundles src/ (TypeScript) into dist/cli/main.mjs, which bin/cellblock runs when
// it is newer than every source file: a worker then loads one plain JavaScript
// file instead of compiling modules at start-up (about 30 MiB less memory than
// running the sources through tsx). Run by `npm install` / `npm ci` and
// `npm run build`. Dependencies stay external (node_modules).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
try {
  await build({
    entryPoints: [path.join(root, 'src/cli/main.ts')],
    // Two levels below the repository, like src/cli/main.ts: paths the code finds
    // relative to its own file (native/, images/, demo/, package.json) still resolve.
    outfile: path.join(root, 'dist/cli/main.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
} catch (err) {
  console.error(`cellblock: bundling src/ failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
console.log('cellblock: built dist/cli/main.mjs');
