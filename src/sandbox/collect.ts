// Files copied out of a finished sandbox: what the launcher's collect phase sends
// on fd 5 (native/PROTOCOL.md, "Collect"), parsed. The launcher only sends
// regular files, opened without following any link, within the caps Node gave it;
// this side checks the framing and never trusts a size it did not cap itself.

export interface CollectRequest {
  /** Absolute paths inside the sandbox; the last component may be a glob (`*.txt`) or `**` (everything below). */
  patterns: readonly string[];
  /** All files together. */
  maxBytes: number;
  /** Any one file. */
  fileMaxBytes: number;
  maxFiles: number;
}

export interface CollectedFile {
  /** Absolute, inside the sandbox. */
  path: string;
  /** Permission bits (no setuid/setgid/sticky). */
  mode: number;
  data: Buffer;
  /** Index of the pattern that found it. */
  pattern: number;
}

export interface CollectRefusal {
  path: string;
  /** symlink, not_found, directory, not_regular, file_too_large, total_too_large, too_many_files, too_deep, other_mount, bad_pattern, error */
  reason: string;
  errno: number;
  pattern: number;
}

export interface Collected {
  files: CollectedFile[];
  refused: CollectRefusal[];
  /** The launcher wrote its `end` line: nothing was cut short. */
  complete: boolean;
}

export class CollectFormatError extends Error {
  readonly code = 'SANDBOX_FAILED';
  constructor(message: string) {
    super(`collect stream: ${message}`);
    this.name = 'CollectFormatError';
  }
}

/** Parse the whole fd 5 stream. Throws CollectFormatError on broken framing or a file past the caps. */
export function parseCollected(buf: Buffer, req: Pick<CollectRequest, 'maxBytes' | 'fileMaxBytes' | 'maxFiles'>): Collected {
  const out: Collected = { files: [], refused: [], complete: false };
  let pos = 0;
  let total = 0;
  let pattern = -1;
  const take = (n: number, what: string): Buffer => {
    if (pos + n > buf.length) throw new CollectFormatError(`truncated ${what}`);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0 || nl - pos > 256) throw new CollectFormatError('header line missing or too long');
    const head = buf.toString('latin1', pos, nl).split(' ');
    pos = nl + 1;
    const num = (i: number): number => {
      const s = head[i] ?? '';
      if (!/^[0-9]+$/.test(s)) throw new CollectFormatError(`bad number in ${head.join(' ')}`);
      return Number(s);
    };
    switch (head[0]) {
      case 'file': {
        if (head.length !== 4 || !/^[0-7]{1,4}$/.test(head[1] ?? '')) throw new CollectFormatError(`bad header ${head.join(' ')}`);
        const mode = parseInt(head[1] ?? '0', 8) & 0o777;
        const size = num(2);
        const p = take(num(3), 'path').toString('utf8');
        if (size > req.fileMaxBytes || total + size > req.maxBytes || out.files.length >= req.maxFiles) {
          throw new CollectFormatError(`${p}: past the caps`);
        }
        total += size;
        out.files.push({ path: p, mode, data: Buffer.from(take(size, 'data')), pattern });
        break;
      }
      case 'refused': {
        if (head.length !== 4) throw new CollectFormatError(`bad header ${head.join(' ')}`);
        out.refused.push({ reason: head[1] ?? '', errno: num(2), path: take(num(3), 'path').toString('utf8'), pattern });
        break;
      }
      case 'pattern':
        pattern = num(1);
        break;
      case 'end':
        out.complete = true;
        if (pos !== buf.length) throw new CollectFormatError('data after end');
        break;
      default:
        throw new CollectFormatError(`unknown record ${head[0] ?? ''}`);
    }
  }
  return out;
}
