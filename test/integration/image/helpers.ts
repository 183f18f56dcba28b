// Shared by the image integration tests: a root check, temp dirs removed after the
// run, and a logger whose records the test can read back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../../src/log.ts';

/** Extraction keeps numeric owners, which only root can do. */
export const skipUnlessRoot: string | false = process.getuid?.() === 0 ? false : 'needs root (extraction keeps numeric owners)';

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `cellblock-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Captured {
  log: Logger;
  records: Array<Record<string, unknown>>;
  messages(): string[];
}

export function captureLogger(): Captured {
  const records: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, records, messages: () => records.map((r) => String(r.msg)) };
}
