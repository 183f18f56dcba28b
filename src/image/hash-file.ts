// sha256 of a file's bytes, streamed: image tarballs run to hundreds of MB.
import { createHash } from 'node:crypto';
import fs from 'node:fs';

export async function sha256File(file: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
