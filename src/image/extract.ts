// Builds an image's root filesystem from untrusted tar streams: one for a plain
// rootfs tarball, or one per layer, in order, with OCI whiteouts (`.wh.NAME`
// removes NAME from the layers below, `.wh..wh..opq` empties a directory of what
// the layers below put there). Numeric owners and modes are kept, except that
// setuid/setgid bits are dropped unless the operator allows them. Every entry
// passes the EntryGuard first: nothing is written outside `dest`.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Unpack } from 'tar';
import { CellblockError, errorMessage } from '../errors.ts';
import { autoDecompress, HashTap } from './decompress.ts';
import { EntryGuard, normalize } from './entry-guard.ts';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface ExtractResult {
  entries: number;
  /** Device nodes and fifos left out. */
  skipped: number;
  /** Sum of regular file sizes: the rootfs size, give or take directories. */
  fileBytes: number;
}

export interface LayerResult {
  /** sha256 hex of the uncompressed tar stream (an OCI diff_id). */
  diffHex: string;
}

export class RootfsBuilder {
  private readonly guard: EntryGuard;

  /** `dest`: an empty directory that becomes the rootfs. */
  constructor(private readonly dest: string, opts: { allowSetuid?: boolean } = {}) {
    this.guard = new EntryGuard(process.umask(), opts);
  }

  /**
   * Applies one tar stream (compressed or not: the first bytes decide). `what`
   * names it in errors. Whiteouts are honoured only for layers of a layered image;
   * in a plain rootfs tarball a `.wh.` file is just a file.
   */
  async apply(input: Readable, what: string, opts: { whiteouts: boolean }): Promise<LayerResult> {
    const guard = this.guard;
    const written = new Set<string>();
    const whiteouts: string[] = [];
    const opaques: string[] = [];
    const warnings: string[] = [];
    const unpack = new Unpack({
      cwd: this.dest,
      // Off: tar would rewrite absolute symlink targets; EntryGuard does the path checks.
      preservePaths: true,
      preserveOwner: true,
      chmod: true,
      // A lower layer's file is replaced, never written through (it may be a hard link).
      unlink: true,
      // Warnings are collected rather than thrown, so a bad entry still lets tar finish
      // its pending writes before the caller removes `dest`.
      strict: false,
      filter: (_p, entry) => {
        if (!('type' in entry)) return false;
        if (opts.whiteouts && this.whiteout(entry.path, whiteouts, opaques)) return false;
        if (!guard.admit(entry)) return false;
        entry.mode = guard.effectiveMode(entry);
        written.add(normalize(entry.path) ?? '');
        return true;
      },
      onwarn: (code, message) => {
        warnings.push(`${code}: ${message}`);
      },
    });

    const tap = new HashTap();
    await new Promise<void>((resolve, reject) => {
      const decompressed = autoDecompress(input, what);
      const source = decompressed.pipe(tap);
      const fail = (err: unknown): void => {
        input.destroy();
        reject(err instanceof CellblockError ? err
          : new CellblockError('IMAGE_INVALID', `cannot extract ${what}: ${errorMessage(err)}`, { cause: err }));
      };
      source.on('data', (chunk: Buffer) => {
        if (!unpack.write(chunk)) source.pause();
      });
      unpack.on('drain', () => source.resume());
      source.on('end', () => unpack.end());
      decompressed.on('error', fail);
      source.on('error', fail);
      unpack.on('error', fail);
      unpack.on('close', () => resolve());
    });

    if (guard.violation !== undefined) {
      throw new CellblockError('IMAGE_INVALID', `refusing ${what}: ${guard.violation}; an image may not write outside its root`);
    }
    if (warnings.length > 0) {
      const more = warnings.length > 3 ? ` (and ${warnings.length - 3} more)` : '';
      throw new CellblockError('IMAGE_INVALID', `cannot extract ${what}: ${warnings.slice(0, 3).join('; ')}${more}`);
    }
    // Whiteouts hide what the layers below made, never what this layer made.
    for (const w of whiteouts) {
      if (!writtenAtOrBelow(written, w)) this.remove(w, what);
    }
    for (const dir of opaques) this.emptyExcept(dir, written, what);
    return { diffHex: tap.hex() };
  }

  /** Restores what tar could not get right while writing; returns the totals. */
  finish(): ExtractResult {
    const guard = this.guard;
    if (guard.entries === 0) throw new CellblockError('IMAGE_INVALID', 'the image has no files: not a rootfs tarball or image');
    restoreModes(this.dest, guard.modesToRestore());
    restoreTimes(this.dest, guard.timesToRestore());
    return { entries: guard.entries, skipped: guard.skipped, fileBytes: guard.fileBytes };
  }

  /** True if `p` is a whiteout (recorded in `whiteouts`/`opaques`, or refused). */
  private whiteout(p: string, whiteouts: string[], opaques: string[]): boolean {
    const base = p.replace(/\/+$/, '').split('/').at(-1) ?? '';
    if (!base.startsWith(WHITEOUT)) return false;
    const why = this.guard.checkPath(p);
    if (why !== undefined) {
      this.guard.refuse(p, `whiteout: ${why}`);
      return true;
    }
    const dir = (normalize(p) ?? '').split('/').slice(0, -1).join('/');
    if (base === OPAQUE) {
      opaques.push(dir);
      return true;
    }
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') {
      this.guard.refuse(p, 'whiteout of no file');
      return true;
    }
    whiteouts.push(dir === '' ? name : `${dir}/${name}`);
    return true;
  }

  /** Removes `rel` (a file or a whole tree) below dest, refusing to go through a symlink. */
  private remove(rel: string, what: string): void {
    const abs = this.safeParent(rel, what);
    if (abs === undefined) return;
    fs.rmSync(abs, { recursive: true, force: true });
    this.guard.forget(rel);
  }

  private emptyExcept(dir: string, written: ReadonlySet<string>, what: string): void {
    const abs = dir === '' ? this.dest : this.safeParent(dir, what);
    if (abs === undefined) return;
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined || !st.isDirectory()) return;
    for (const name of fs.readdirSync(abs)) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!writtenAtOrBelow(written, rel)) this.remove(rel, what);
      else if (!written.has(rel) || fs.lstatSync(path.join(this.dest, rel)).isDirectory()) this.emptyExcept(rel, written, what);
    }
  }

  /** dest/rel, if every directory on the way is a real directory; undefined if one is missing. */
  private safeParent(rel: string, what: string): string | undefined {
    const parts = rel.split('/');
    let cur = this.dest;
    for (const part of parts.slice(0, -1)) {
      cur = path.join(cur, part);
      const st = fs.lstatSync(cur, { throwIfNoEntry: false });
      if (st === undefined) return undefined;
      if (!st.isDirectory()) {
        throw new CellblockError('IMAGE_INVALID', `refusing ${what}: whiteout ${JSON.stringify(rel)} goes through a non-directory; an image may not write outside its root`);
      }
    }
    return path.join(cur, parts.at(-1) ?? '');
  }
}

function writtenAtOrBelow(written: ReadonlySet<string>, rel: string): boolean {
  if (written.has(rel)) return true;
  const prefix = `${rel}/`;
  for (const w of written) if (w.startsWith(prefix)) return true;
  return false;
}

/**
 * Extracts one rootfs tarball `file` into `dest` (an empty directory); returns the
 * sha256 of the file's bytes as read, so the caller can check they are the bytes
 * it digested before.
 */
export async function extractTarball(file: string, dest: string, opts: { allowSetuid?: boolean; onProgress?(bytes: number, total: number): void } = {}): Promise<ExtractResult & { hex: string }> {
  const builder = new RootfsBuilder(dest, opts);
  const total = fs.statSync(file).size;
  let read = 0;
  const tap = new HashTap((n) => {
    read += n;
    opts.onProgress?.(read, total);
  });
  const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  input.on('error', (err) => tap.destroy(err));
  await builder.apply(input.pipe(tap), file, { whiteouts: false });
  return { ...builder.finish(), hex: tap.hex() };
}

function restoreModes(dest: string, modes: ReadonlyMap<string, number>): void {
  for (const [rel, mode] of modes) {
    const p = path.join(dest, rel);
    // A later entry may have replaced the path with a symlink; chmod would follow it.
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st !== undefined && !st.isSymbolicLink()) fs.chmodSync(p, mode);
  }
}

function restoreTimes(dest: string, times: ReadonlyMap<string, Date>): void {
  for (const [rel, mtime] of times) {
    const p = path.join(dest, rel);
    // lutimes: for a symlink, set the link's own times, never its target's.
    if (fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined) fs.lutimesSync(p, mtime, mtime);
  }
}
