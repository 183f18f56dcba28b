// Parses the launcher's report lines (native/PROTOCOL.md) into facts.

export interface LauncherReport {
  /** CLOCK_MONOTONIC ns when the sandbox was ready and the job about to be forked. */
  startedNs?: bigint;
  exited?: { atNs: bigint; status: number; utimeUs: number; stimeUs: number; maxRssKb: number };
  execFailed?: { errno: number; what: 'exec' | 'cwd'; path: string };
  setupFailed?: { stage: string; errno: number; message: string };
  /** From `done`: the supervisor finished its work (every process of the job reaped). */
  disk?: { usedBytes: number; freeBytes: number; inodesUsed: number; inodesFree: number };
  /** From the launcher server: the supervisor's own wait status, once it was reaped. */
  goneStatus?: number;
  /** Profiling builds only: when each launcher step ended (CLOCK_MONOTONIC ns). */
  trace: { step: string; atNs: bigint }[];
  warnings: string[];
}

/** `key=value` pairs of a line; the value of `msg` runs to the end of the line. */
function fields(rest: string): Map<string, string> {
  const out = new Map<string, string>();
  let s = rest;
  while (s.length > 0) {
    const eq = s.indexOf('=');
    if (eq < 0) break;
    const key = s.slice(0, eq);
    if (key === 'msg' || key === 'path') {
      out.set(key, s.slice(eq + 1));
      break;
    }
    const sp = s.indexOf(' ', eq);
    out.set(key, sp < 0 ? s.slice(eq + 1) : s.slice(eq + 1, sp));
    s = sp < 0 ? '' : s.slice(sp + 1);
  }
  return out;
}

const num = (f: Map<string, string>, k: string): number => Number(f.get(k) ?? 'NaN');
const big = (f: Map<string, string>, k: string): bigint => BigInt(f.get(k) ?? '0');

export function parseReport(text: string): LauncherReport {
  const report: LauncherReport = { trace: [], warnings: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const sp = line.indexOf(' ');
    const kind = sp < 0 ? line : line.slice(0, sp);
    const f = fields(sp < 0 ? '' : line.slice(sp + 1));
    switch (kind) {
      case 'started':
        report.startedNs = big(f, 'mono_ns');
        break;
      case 'exited':
        report.exited = { atNs: big(f, 'mono_ns'), status: num(f, 'status'), utimeUs: num(f, 'utime_us'), stimeUs: num(f, 'stime_us'), maxRssKb: num(f, 'maxrss_kb') };
        break;
      case 'exec_failed':
        report.execFailed = { errno: num(f, 'errno'), what: f.get('what') === 'cwd' ? 'cwd' : 'exec', path: f.get('path') ?? '' };
        break;
      case 'setup_failed':
        // The first failure is the cause; later ones are consequences.
        report.setupFailed ??= { stage: f.get('stage') ?? '?', errno: num(f, 'errno'), message: f.get('msg') ?? line };
        break;
      case 'done':
        report.disk = { usedBytes: num(f, 'disk_used'), freeBytes: num(f, 'disk_free'), inodesUsed: num(f, 'inodes_used'), inodesFree: num(f, 'inodes_free') };
        break;
      case 'trace':
        report.trace.push({ step: f.get('step') ?? '?', atNs: big(f, 'mono_ns') });
        break;
      case 'gone':
        report.goneStatus = num(f, 'status');
        break;
      default:
        report.warnings.push(line);
    }
  }
  return report;
}

/** Decode a wait(2) status. */
export function decodeWaitStatus(status: number): { exitCode: number | null; signal: number | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: sig };
}
