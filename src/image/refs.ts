// Name -> digest pointers: `<refs>/<name>/<tag>` holds "sha256:<hex>\n". One small
// file per tag so a rename can swap it atomically under concurrent readers.
// Names are validated (ref.ts) before they get here.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import { digestHex } from './ref.ts';

export interface RefEntry {
  name: string;
  tag: string;
  digest: string;
}

/** The hex digest `name:tag` points at, or undefined if there is no such ref. */
export function readRef(refsDir: string, name: string, tag: string): string | undefined {
  const file = path.join(refsDir, name, tag);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    // ENOTDIR/EISDIR: a component is a tag of a shorter name, or the tag is a longer name's directory.
    if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes(errnoCode(err) ?? '')) return undefined;
    throw err;
  }
  const hex = digestHex(text.trim());
  if (hex === undefined) throw new CellblockError('IMAGE_INVALID', `${file} does not hold a sha256 digest; re-import the image`);
  return hex;
}

export function writeRef(refsDir: string, name: string, tag: string, digest: string): void {
  const dir = path.join(refsDir, name);
  // Dot-prefixed: valid tags never start with '.', so readers never see it as a tag.
  const tmp = path.join(dir, `.${tag}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.writeFileSync(tmp, `${digest}\n`, { mode: 0o644 });
    fs.renameSync(tmp, path.join(dir, tag));
  } catch (err) {
    removeQuietly(tmp);
    const code = errnoCode(err);
    if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
      // refs/a/b cannot be both the tag "b" of "a" and the directory of the name "a/b".
      throw new CellblockError('IMAGE_INVALID', `cannot name an image ${name}:${tag}: it collides with an existing name or tag (a tag of "a" may not equal a component of "a/..."); pick another name`, { cause: err });
    }
    throw new CellblockError('IMAGE_INVALID', `cannot write ${path.join(dir, tag)}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Every ref under `refsDir`, sorted by name then tag; unreadable ones are reported, not thrown. */
export function listRefs(refsDir: string, onBad: (file: string, why: string) => void): RefEntry[] {
  const out: RefEntry[] = [];
  const walk = (rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(refsDir, rel), { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && rel !== '') {
        try {
          const hex = readRef(refsDir, rel, e.name);
          if (hex !== undefined) out.push({ name: rel, tag: e.name, digest: `sha256:${hex}` });
        } catch (err) {
          onBad(path.join(refsDir, child), errorMessage(err));
        }
      }
    }
  };
  walk('');
  return out.sort((a, b) => compare(a.name, b.name) || compare(a.tag, b.tag));
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // ENOTDIR when the collision is the very reason we are here: nothing was written.
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
