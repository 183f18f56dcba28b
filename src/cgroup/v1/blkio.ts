// v1 blkio controller: bytes the job read from and wrote to block devices.

import { join } from 'node:path';
import { readText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

// The throttle files are filled whatever the I/O scheduler; the plain ones only under
// CFQ/BFQ. _recursive also counts child cgroups the job may have made.
const SOURCES = [
  'blkio.throttle.io_service_bytes_recursive',
  'blkio.throttle.io_service_bytes',
  'blkio.io_service_bytes_recursive',
  'blkio.io_service_bytes',
];

/** Lines are "MAJ:MIN Read N", "MAJ:MIN Write N", ... and a final "Total N". */
export function parseServiceBytes(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    const [, op, value] = line.trim().split(/\s+/);
    const n = Number(value);
    if (!Number.isFinite(n)) continue;
    if (op === 'Read') readBytes += n;
    else if (op === 'Write') writeBytes += n;
  }
  return { readBytes, writeBytes };
}

/** Zeros when blkio is not mounted (it is optional: stats only, no limit depends on it). */
export function readIoStats(fs: CgroupFs, files: InterfaceFiles, dir: string | undefined): { readBytes: number; writeBytes: number } {
  if (dir === undefined) return { readBytes: 0, writeBytes: 0 };
  const source = SOURCES.map((name) => join(dir, name)).find((path) => files.has(path));
  if (source === undefined) return { readBytes: 0, writeBytes: 0 };
  return parseServiceBytes(readText(fs, source));
}
