// Unpacks an untrusted rootfs tarball (plain or compressed) into a fresh directory,
// keeping numeric owners and modes, and hashes the bytes it read on the way so the
// caller can check they are the bytes it digested before.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Unpack } from 'tar';
import { CellblockError } from '../errors.ts';
import { EntryGuard } from './entry-guard.ts';

export interface ExtractOptions {
  onProgress?(bytes: number, total: number): void;
}

export interface ExtractResult {
  /** sha256 (hex) of the bytes read from `file`. */
  hex: string;
  entries: number;
  /** Device nodes and fifos left out. */
  skipped: number;
  /** Sum of regular file sizes: the rootfs size, give or take directories. */
  fileBytes: number;
}

/** Extracts `file` into `dest` (an empty directory); throws IMAGE_INVALID for a bad or hostile archive. */
export async function extractTarball(file: string, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const guard = new EntryGuard(process.umask());
  const warnings: string[] = [];
  const unpack = new Unpack({
    cwd: dest,
    // Off: tar would rewrite absolute symlink targets; EntryGuard does the path checks.
    preservePaths: true,
    preserveOwner: true,
    chmod: true,
    // Warnings are collected rather than thrown, so a bad entry still lets tar finish
    // its pending writes before the caller removes `dest`.
    strict: false,
    filter: (_path, entry) => 'type' in entry && guard.admit(entry),
    onwarn: (code, message) => {
      warnings.push(`${code}: ${message}`);
    },
  });

  const hash = createHash('sha256');
  const total = fs.statSync(file).size;
  let read = 0;
  await new Promise<void>((resolve, reject) => {
    const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    const fail = (err: unknown): void => {
      input.destroy();
      reject(err instanceof CellblockError ? err
        : new CellblockError('IMAGE_INVALID', `cannot extract ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    };
    input.on('data', (chunk) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash.update(buf);
      read += buf.length;
      opts.onProgress?.(read, total);
      if (!unpack.write(buf)) input.pause();
    });
    unpack.on('drain', () => input.resume());
    input.on('end', () => unpack.end());
    input.on('error', fail);
    unpack.on('error', fail);
    unpack.on('close', () => resolve());
  });

  if (guard.violation !== undefined) {
    throw new CellblockError('IMAGE_INVALID', `refusing ${file}: ${guard.violation}; an image may not write outside its root`);
  }
  if (warnings.length > 0) {
    const more = warnings.length > 3 ? ` (and ${warnings.length - 3} more)` : '';
    throw new CellblockError('IMAGE_INVALID', `cannot extract ${file}: ${warnings.slice(0, 3).join('; ')}${more}`);
  }
  if (guard.entries === 0) throw new CellblockError('IMAGE_INVALID', `${file} has no entries: not a rootfs tarball`);
  restoreModes(dest, guard.modesToRestore());
  restoreTimes(dest, guard.timesToRestore());
  return { hex: hash.digest('hex'), entries: guard.entries, skipped: guard.skipped, fileBytes: guard.fileBytes };
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
    // lutimes: for a symlink, set the link's own times, never its target's.
    fs.lutimesSync(path.join(dest, rel), mtime, mtime);
  }
}
