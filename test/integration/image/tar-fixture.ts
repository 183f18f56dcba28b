// Hand-made tar archives, header by header, so tests can build archives no tar
// tool would write (absolute names, "..", writes through symlinks).
import { writeFileSync } from 'node:fs';
import { Header, type HeaderData } from 'tar';

export interface FixtureEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  body?: string;
  linkpath?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

const BLOCK = 512;

export function writeTar(file: string, entries: readonly FixtureEntry[]): void {
  writeFileSync(file, tarBytes(entries));
}

export function tarBytes(entries: readonly FixtureEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const body = Buffer.from(type === 'File' ? (e.body ?? '') : '');
    const data: HeaderData = {
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: body.length,
      mtime: new Date(0),
      ...(e.linkpath !== undefined && { linkpath: e.linkpath }),
      ...(type === 'CharacterDevice' && { devmaj: 1, devmin: 3 }),
    };
    const header = Buffer.alloc(BLOCK);
    new Header(data).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}
