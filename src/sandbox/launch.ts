// Starts the native launcher for one job and speaks its protocol
// (native/PROTOCOL.md): configuration in on fd 3, report lines out on fd 4,
// the job's stdio on 0-2.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { parseReport, type LauncherReport } from './report.ts';

export interface LaunchConfig {
  rootfs: string;
  jobDir: string;
  filesLayer?: string;
  uidBase: number;
  uidCount: number;
  uid: number;
  gid: number;
  hostname: string;
  cwd: string;
  diskBytes: number;
  diskInodes: number;
  rlimits: { nofile: number; stack: number; fsize: number; cpuSeconds: number };
  cgroupProcs: readonly string[];
  seccomp: Buffer;
  /** KEY=VALUE */
  env: readonly string[];
  argv: readonly string[];
}

export function encodeConfig(c: LaunchConfig): Buffer {
  const entries: string[] = [
    `rootfs=${c.rootfs}`, `jobdir=${c.jobDir}`, `uid_base=${c.uidBase}`, `uid_count=${c.uidCount}`,
    `uid=${c.uid}`, `gid=${c.gid}`, `hostname=${c.hostname}`, `cwd=${c.cwd}`,
    `disk_bytes=${c.diskBytes}`, `disk_inodes=${c.diskInodes}`,
    `rlimit_nofile=${c.rlimits.nofile}`, `rlimit_stack=${c.rlimits.stack}`, `rlimit_fsize=${c.rlimits.fsize}`,
    `rlimit_cpu=${c.rlimits.cpuSeconds}`, `seccomp=${c.seccomp.toString('hex')}`,
  ];
  if (c.filesLayer) entries.push(`files=${c.filesLayer}`);
  for (const p of c.cgroupProcs) entries.push(`cgroup_procs=${p}`);
  for (const e of c.env) entries.push(`env=${e}`);
  for (const a of c.argv) entries.push(`arg=${a}`);
  return Buffer.from(entries.map((e) => `${e}\0`).join(''));
}

export interface LaunchEvents {
  /** The sandbox is ready; the job is being forked. */
  onStarted(monoNs: bigint): void;
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

export interface LaunchOutcome {
  report: LauncherReport;
  exit: { code: number | null; signal: string | null };
}

export class Launch {
  private readonly child: ChildProcess;
  readonly done: Promise<LaunchOutcome>;

  constructor(launcherPath: string, config: LaunchConfig, stdin: string, events: LaunchEvents) {
    this.child = spawn(launcherPath, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'], env: {} });
    const [jobStdin, jobStdout, jobStderr, configIn, reportOut] = this.child.stdio as [Writable, Readable, Readable, Writable, Readable];
    let reportText = '';
    let startedSeen = false;
    reportOut.setEncoding('utf8');
    reportOut.on('data', (s: string) => {
      reportText += s;
      if (!startedSeen && reportText.includes('started ')) {
        const r = parseReport(reportText.slice(0, reportText.lastIndexOf('\n') + 1));
        if (r.startedNs !== undefined) {
          startedSeen = true;
          events.onStarted(r.startedNs);
        }
      }
    });
    jobStdout.on('data', (c: Buffer) => events.onStdout(c));
    jobStderr.on('data', (c: Buffer) => events.onStderr(c));
    // A job may exit without reading its stdin, or the launcher fail early.
    const ignore = (): void => {};
    for (const s of [jobStdin, configIn, jobStdout, jobStderr, reportOut]) s.on('error', ignore);
    configIn.end(encodeConfig(config));
    jobStdin.end(stdin);

    this.done = new Promise<LaunchOutcome>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (err) => { spawnError = err; });
      // 'close' waits for every stdio stream to end: all output is in.
      this.child.on('close', (code, signal) => {
        const report = parseReport(reportText);
        if (spawnError && !report.setupFailed) {
          report.setupFailed = { stage: 'spawn', errno: 0, message: spawnError.message };
        }
        resolve({ report, exit: { code, signal } });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Kill the launcher itself (the job dies with it: parent-death signals). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
