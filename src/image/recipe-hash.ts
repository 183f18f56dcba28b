// A digest of everything in a recipe directory (paths, exec bits, symlink targets,
// contents): when it is unchanged, the cached tarball built from it is still good.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function hashRecipeDir(dir: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    const names = fs.readdirSync(path.join(dir, rel)).sort();
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(dir, relPath);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) {
        hash.update(`d ${relPath}\0`);
        walk(relPath);
      } else if (st.isSymbolicLink()) {
        hash.update(`l ${relPath}\0${fs.readlinkSync(abs)}\0`);
      } else if (st.isFile()) {
        const exec = (st.mode & 0o111) !== 0 ? 'x' : '-';
        hash.update(`f${exec} ${relPath} ${st.size}\0`);
        hash.update(fs.readFileSync(abs));
      }
    }
  };
  walk('');
  return hash.digest('hex');
}
