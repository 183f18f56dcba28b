// Recognises a compressed stream by its first bytes and undoes it: gzip with
// Node's zlib, zstd and xz through the system tools (`zstd -dc`, `xz -dc`), since
// Node 20 has no zstd or xz of its own. Whatever the file is called, the magic
// bytes decide, so a mislabelled .tar.gz still imports.
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { PassThrough, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CellblockError, errorMessage } from '../errors.ts';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz';

const TOOLS: Record<'zstd' | 'xz', { cmd: string; pkg: string }> = {
  zstd: { cmd: 'zstd', pkg: 'zstd' },
  xz: { cmd: 'xz', pkg: 'xz-utils' },
};

/** The compression of a stream that starts with `head` (6 bytes are enough). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** `input` decompressed as `compression` says; errors (bad data, missing tool) surface on the result. */
export function decompress(input: Readable, compression: Compression, what: string): Readable {
  if (compression === 'none') return input;
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const fail = (err: unknown): void => {
    out.destroy(err instanceof CellblockError ? err : new CellblockError('IMAGE_INVALID', `cannot decompress ${what} (${compression}): ${errorMessage(err)}`, { cause: err }));
  };
  if (compression === 'gzip') {
    pipeline(input, createGunzip(), out, (err) => {
      if (err) fail(err);
    });
    return out;
  }
  const tool = TOOLS[compression];
  const child = spawn(tool.cmd, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    input.destroy();
    out.destroy(err.code === 'ENOENT'
      ? new CellblockError('IMAGE_INVALID', `${what} is ${compression}-compressed and ${tool.cmd} is not installed; install it with: apt-get install ${tool.pkg}`)
      : new CellblockError('IMAGE_INVALID', `cannot run ${tool.cmd} for ${what}: ${err.message}`, { cause: err }));
  });
  pipeline(input, child.stdin, (err) => {
    // EPIPE when the tool gave up first: its exit status says why.
    if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') fail(err);
  });
  // Ended only once the tool's exit status is known: a truncated stream must fail, not end early.
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else fail(new Error(`${tool.cmd} ${signal !== null ? `killed by ${signal}` : `exit ${code}`}: ${stderr.trim().split('\n').at(-1) ?? ''}`));
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/** Reads the first bytes of `input` to tell its compression, then decompresses it. */
export function autoDecompress(input: Readable, what: string): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let headBytes = 0;
    let done = false;
    while (headBytes < 6) {
      const next = await it.next();
      if (next.done === true) {
        done = true;
        break;
      }
      head.push(next.value);
      headBytes += next.value.length;
    }
    const first = Buffer.concat(head);
    async function* rest(): AsyncGenerator<Buffer> {
      if (first.length > 0) yield first;
      while (!done) {
        const next = await it.next();
        if (next.done === true) return;
        yield next.value;
      }
    }
    yield* decompress(Readable.from(rest(), { objectMode: false }), sniffCompression(first), what) as AsyncIterable<Buffer>;
  }
  return Readable.from(generate(), { objectMode: false });
}

/** Passes bytes through, hashing (sha256) and counting them. */
export class HashTap extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private hexValue: string | undefined;

  constructor(private readonly onBytes?: (n: number) => void, private readonly limit?: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit !== undefined && this.bytes > this.limit) {
      cb(new CellblockError('IMAGE_INVALID', `more bytes than the ${this.limit} announced`));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }

  /** sha256 hex of everything that passed; only once the stream has ended. */
  hex(): string {
    this.hexValue ??= this.hash.digest('hex');
    return this.hexValue;
  }
}
