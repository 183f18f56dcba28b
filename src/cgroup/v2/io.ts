// v2 io controller: bytes read and written, summed over devices. Stats only: no io limit.

import { join } from 'node:path';
import { parseNestedKeyed, readText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import type { InterfaceFiles } from '../interface-files.ts';

/** "MAJ:MIN rbytes=N wbytes=N rios=N ..." per device; other keys (dbytes, debug stats) ignored. */
export function parseIoStat(text: string): { readBytes: number; writeBytes: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const { fields } of parseNestedKeyed(text)) {
    const r = Number(fields.get('rbytes'));
    const w = Number(fields.get('wbytes'));
    if (Number.isFinite(r)) readBytes += r;
    if (Number.isFinite(w)) writeBytes += w;
  }
  return { readBytes, writeBytes };
}

/** Zeros when io is not enabled for the job (it is optional in the delegation). */
export function readIoStats(fs: CgroupFs, files: InterfaceFiles, dir: string): { readBytes: number; writeBytes: number } {
  const path = join(dir, 'io.stat');
  if (!files.has(path)) return { readBytes: 0, writeBytes: 0 };
  return parseIoStat(readText(fs, path));
}
