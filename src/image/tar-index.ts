// A random-access view of an uncompressed tar file: where each member's bytes
// are, found by hopping from header to header without reading the bodies. Image
// archives (docker save, OCI layout as a tar) are read through it, so a layer is
// streamed straight from its place in the archive and never copied out.
// Read-only: member names are only looked up, never used as paths on disk.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { CellblockError } from '../errors.ts';

const BLOCK = 512;

export interface TarMember {
  offset: number;
  size: number;
}

export class TarIndex {
  private constructor(
    readonly file: string,
    private readonly files: Map<string, TarMember>,
    private readonly links: Map<string, string>,
  ) {}

  /**
   * Indexes `file`; returns undefined if it does not start like a tar archive (so
   * the caller can say what it is instead), throws IMAGE_INVALID if it breaks later.
   */
  static open(file: string): TarIndex | undefined {
    const fd = fs.openSync(file, 'r');
    try {
      return TarIndex.scan(fd, file, fs.fstatSync(fd).size);
    } finally {
      fs.closeSync(fd);
    }
  }

  private static scan(fd: number, file: string, total: number): TarIndex | undefined {
    const files = new Map<string, TarMember>();
    const links = new Map<string, string>();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    let first = true;
    const bad = (why: string): CellblockError => new CellblockError('IMAGE_INVALID', `${file} is not a valid tar archive at byte ${pos}: ${why}`);
    for (;;) {
      if (fs.readSync(fd, header, 0, BLOCK, pos) < BLOCK) {
        if (first) return undefined;
        throw bad('truncated');
      }
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) {
        if (first) return undefined;
        throw bad('bad header checksum');
      }
      first = false;
      const type = String.fromCharCode(header[156] ?? 0);
      let size = parseNumber(header.subarray(124, 136));
      if (pax.size !== undefined) size = Number(pax.size);
      if (!Number.isSafeInteger(size) || size < 0) throw bad('bad size');
      const body = pos + BLOCK;
      if (body + size > total) throw bad('a member runs past the end of the file');
      const next = body + Math.ceil(size / BLOCK) * BLOCK;
      const readBody = (): Buffer => {
        if (size > 1 << 20) throw bad('an oversized extended header');
        const buf = Buffer.alloc(size);
        fs.readSync(fd, buf, 0, size, body);
        return buf;
      };
      if (type === 'x') {
        pax = parsePax(readBody());
      } else if (type === 'L') {
        longName = cString(readBody());
      } else if (type === 'g' || type === 'K') {
        // Global headers and GNU long link names: nothing an image archive needs.
      } else {
        const name = normalize(pax.path ?? longName ?? headerName(header));
        if (type === '0' || type === '\0' || type === '7') files.set(name, { offset: body, size });
        else if (type === '2' || type === '1') {
          const target = pax.linkpath ?? cString(header.subarray(157, 257));
          // Symlinks are relative to their directory, hard links to the archive root.
          links.set(name, type === '2' ? normalize(`${name.split('/').slice(0, -1).join('/')}/${target}`) : normalize(target));
        }
        pax = {};
        longName = undefined;
      }
      pos = next;
    }
    return new TarIndex(file, files, links);
  }

  /** Member names of regular files (after link resolution: links are listed too). */
  names(): string[] {
    return [...this.files.keys(), ...this.links.keys()];
  }

  has(name: string): boolean {
    return this.member(name) !== undefined;
  }

  member(name: string): TarMember | undefined {
    let n = normalize(name);
    // Old docker save archives link identical layers to one copy; follow a few hops.
    for (let hops = 0; hops < 8; hops++) {
      const m = this.files.get(n);
      if (m !== undefined) return m;
      const target = this.links.get(n);
      if (target === undefined) return undefined;
      n = target;
    }
    return undefined;
  }

  read(name: string, max: number): Buffer {
    const m = this.mustHave(name);
    if (m.size > max) throw new CellblockError('IMAGE_INVALID', `${this.file}: ${name} is ${m.size} bytes, more than the ${max} allowed`);
    const buf = Buffer.alloc(m.size);
    const fd = fs.openSync(this.file, 'r');
    try {
      fs.readSync(fd, buf, 0, m.size, m.offset);
    } finally {
      fs.closeSync(fd);
    }
    return buf;
  }

  open(name: string): Readable {
    const m = this.mustHave(name);
    if (m.size === 0) return Readable.from([]);
    return fs.createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  private mustHave(name: string): TarMember {
    const m = this.member(name);
    if (m === undefined) throw new CellblockError('IMAGE_INVALID', `${this.file} has no ${name}`);
    return m;
  }
}

function checksumOk(h: Buffer): boolean {
  const stored = parseNumber(h.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  return sum === stored;
}

/** Octal, NUL/space padded; or GNU base-256 when the high bit is set. */
function parseNumber(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const s = cString(field).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
}

function headerName(h: Buffer): string {
  const name = cString(h.subarray(0, 100));
  const ustar = h.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = ustar ? cString(h.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** "LEN key=value\n" records; LEN counts bytes, so this walks the bytes, not the characters. */
function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const space = buf.indexOf(0x20, i);
    const len = Number(buf.subarray(i, space).toString('latin1'));
    if (space === -1 || !Number.isInteger(len) || len <= 0) break;
    const record = buf.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** "./a//b/" -> "a/b"; ".." components are resolved so a lookup can never match outside names. */
function normalize(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}
