// Decides a job's verdict from what the kernel and the launcher reported. Pure:
// every input is a fact gathered elsewhere; the order below is the precedence.
import os from 'node:os';
import type { Verdict } from '../job/result.ts';
import { decodeWaitStatus, type LauncherReport } from './report.ts';

/** Why cellblock itself ended the job early, if it did. */
export type KillReason = 'wall' | 'cpu' | 'output' | 'cancel' | 'setup';

export interface VerdictFacts {
  report: LauncherReport;
  killedFor?: KillReason;
  oomKills: number;
  cpuMs: number;
  cpuLimitMs: number;
  wallLimitMs: number;
  /** How long setup may take before the sandbox counts as stuck (our fault, not the job's). */
  setupLimitMs: number;
  outputLimitBytes: number;
  /** The launcher's own exit, when it did not end normally. */
  launcherExit: { code: number | null; signal: string | null };
}

export interface Decision {
  verdict: Verdict;
  message?: string;
  exitCode: number | null;
  signal: string | null;
}

// The first name of each number is the usual one (SIGABRT before SIGIOT).
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

export function signalName(n: number): string {
  return SIGNAL_NAMES.get(n) ?? `SIG${n}`;
}

function errnoName(errno: number): string {
  const entry = Object.entries(os.constants.errno).find(([, n]) => n === errno);
  return entry ? entry[0] : `errno ${errno}`;
}

export function decideVerdict(f: VerdictFacts): Decision {
  const r = f.report;
  const status = r.exited ? decodeWaitStatus(r.exited.status) : { exitCode: null, signal: null };
  const exitCode = status.exitCode;
  const signal = status.signal === null ? null : signalName(status.signal);
  const base = { exitCode, signal };

  if (r.setupFailed) {
    return { ...base, verdict: 'INTERNAL_ERROR', message: `sandbox setup failed (${r.setupFailed.stage}): ${r.setupFailed.message}` };
  }
  if (f.killedFor === 'setup') {
    return { ...base, verdict: 'INTERNAL_ERROR', message: `the sandbox did not start the job within ${f.setupLimitMs} ms` };
  }
  if (f.killedFor === 'cancel') return { ...base, verdict: 'CANCELLED', message: 'cancelled while running' };
  if (f.killedFor === 'output') {
    return { ...base, verdict: 'OUTPUT_LIMIT', message: `output exceeded ${f.outputLimitBytes} bytes` };
  }
  if (f.oomKills > 0) return { ...base, verdict: 'MEMORY_LIMIT', message: `out of memory: ${f.oomKills} process(es) killed by the kernel` };
  // Not SIGXCPU or SIGXFSZ alone: a job can send those to itself. The kernel's
  // SIGXCPU comes at RLIMIT_CPU, which is above cpuLimitMs, so the cgroup's
  // count shows it; its SIGXFSZ at RLIMIT_FSIZE, the layer's size, so statfs does.
  if (f.killedFor === 'cpu' || f.cpuMs > f.cpuLimitMs) {
    return { ...base, verdict: 'TIME_LIMIT', message: `cpu time ${Math.round(f.cpuMs)} ms exceeded the limit of ${f.cpuLimitMs} ms` };
  }
  if (f.killedFor === 'wall') return { ...base, verdict: 'WALL_TIME_LIMIT', message: `wall time exceeded ${f.wallLimitMs} ms` };
  if (r.execFailed) {
    const e = r.execFailed;
    const what = e.what === 'cwd' ? `working directory ${e.path}` : `command ${e.path}`;
    const why = e.errno === os.constants.errno.ENOENT ? 'not found' : errnoName(e.errno);
    return { ...base, verdict: 'RUNTIME_ERROR', message: `${what}: ${why}` };
  }
  const diskFull = r.disk !== undefined && (r.disk.freeBytes === 0 || r.disk.inodesFree === 0);
  if (diskFull && exitCode !== 0) {
    return { ...base, verdict: 'DISK_LIMIT', message: 'the writable layer is full' };
  }
  if (!r.exited) {
    const how = f.launcherExit.signal ?? `exit code ${f.launcherExit.code}`;
    return { ...base, verdict: 'INTERNAL_ERROR', message: `the launcher ended (${how}) without reporting the job's exit` };
  }
  if (signal !== null) return { ...base, verdict: 'RUNTIME_ERROR', message: `killed by ${signal}` };
  if (exitCode !== 0) return { ...base, verdict: 'RUNTIME_ERROR', message: `exit code ${exitCode}` };
  return { ...base, verdict: 'OK' };
}
