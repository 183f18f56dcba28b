// Progress of an import or pull: one step per layer (or per tarball), bytes as
// they are read. On a terminal it is one line redrawn in place; otherwise a log
// record per step and at most one every few seconds while a step runs.
import type { Logger } from '../log.ts';

export interface Progress {
  /** A new step: `label` (e.g. "layer 2/5 sha256:ab12...") of `totalBytes` if known. */
  step(label: string, totalBytes?: number): void;
  bytes(n: number): void;
  /** The step is complete. */
  stepDone(): void;
}

export const noProgress: Progress = { step: () => {}, bytes: () => {}, stepDone: () => {} };

const MiB = 1024 * 1024;
const fmt = (n: number): string => (n / MiB).toFixed(1);

export interface ProgressOutput {
  isTTY?: boolean;
  write(s: string): unknown;
}

/** A terminal line (`out` a TTY) or log records; `finish()` clears the line. */
export function progressReporter(verb: string, out: ProgressOutput, log: Logger, now: () => number = Date.now): Progress & { finish(): void } {
  const tty = out.isTTY === true;
  let label = '';
  let total: number | undefined;
  let done = 0;
  let started = 0;
  let lastDraw = 0;
  let lastLog = 0;
  let steps = 0;
  let allBytes = 0;
  const line = (): string => {
    const of = total !== undefined && total > 0 ? ` of ${fmt(total)} MiB (${Math.min(100, Math.floor((done / total) * 100))}%)` : ' MiB';
    return `${verb} ${label}: ${fmt(done)}${of}`;
  };
  return {
    step(l, totalBytes) {
      label = l;
      total = totalBytes;
      done = 0;
      started = now();
      steps++;
      if (tty) out.write(`\r\x1b[K${line()}`);
      else log.info({ step: l, totalBytes }, `${verb} ${l}`);
    },
    bytes(n) {
      done += n;
      allBytes += n;
      const t = now();
      if (tty && t - lastDraw >= 100) {
        lastDraw = t;
        out.write(`\r\x1b[K${line()}`);
      } else if (!tty && t - lastLog >= 5000 && t - started >= 5000) {
        lastLog = t;
        log.info({ step: label, bytes: done, totalBytes: total }, line());
      }
    },
    stepDone() {
      if (tty) out.write(`\r\x1b[K${line()}`);
      else log.info({ step: label, bytes: done, ms: now() - started }, `${verb} ${label}: done`);
    },
    finish() {
      if (tty) out.write('\r\x1b[K');
      else if (steps > 0) log.debug({ steps, bytes: allBytes }, `${verb}: all steps done`);
    },
  };
}
