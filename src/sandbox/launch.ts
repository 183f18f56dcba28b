// Starts the native launcher for one job and speaks its protocol
// (native/PROTOCOL.md): configuration in on fd 3, report lines out on fd 4,
// collected files out on fd 5, the job's stdio on 0-2.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { parseReport, type LauncherReport } from './report.ts';
import type { CollectRequest } from './collect.ts';

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
  rlimits: { nofile: number; stack: number; fsize: number; cpuSeconds: number; nproc: number };
  cgroupProcs: readonly string[];
  /** BPF programs, installed in this order (they stack: the strictest answer wins). */
  seccomp: readonly Buffer[];
  /** KEY=VALUE */
  env: readonly string[];
  argv: readonly string[];
  /** Files to copy out of the job's root after it ended (the launcher's collect phase). */
  collect?: CollectRequest;
}

export function encodeConfig(c: LaunchConfig): Buffer {
  const entries: string[] = [
    `rootfs=${c.rootfs}`, `jobdir=${c.jobDir}`, `uid_base=${c.uidBase}`, `uid_count=${c.uidCount}`,
    `uid=${c.uid}`, `gid=${c.gid}`, `hostname=${c.hostname}`, `cwd=${c.cwd}`,
    `disk_bytes=${c.diskBytes}`, `disk_inodes=${c.diskInodes}`,
    `rlimit_nofile=${c.rlimits.nofile}`, `rlimit_stack=${c.rlimits.stack}`, `rlimit_fsize=${c.rlimits.fsize}`,
    `rlimit_cpu=${c.rlimits.cpuSeconds}`, `rlimit_nproc=${c.rlimits.nproc}`,
  ];
  for (const bpf of c.seccomp) entries.push(`seccomp=${bpf.toString('hex')}`);
  if (c.filesLayer) entries.push(`files=${c.filesLayer}`);
  for (const p of c.cgroupProcs) entries.push(`cgroup_procs=${p}`);
  for (const e of c.env) entries.push(`env=${e}`);
  for (const a of c.argv) entries.push(`arg=${a}`);
  if (c.collect && c.collect.patterns.length > 0) {
    entries.push(`collect_max_bytes=${c.collect.maxBytes}`, `collect_file_max_bytes=${c.collect.fileMaxBytes}`, `collect_max_files=${c.collect.maxFiles}`);
    for (const p of c.collect.patterns) entries.push(`collect=${p}`);
  }
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
  /** The raw collect stream (fd 5); empty when nothing was asked for. */
  collected: Buffer;
}

/** Start a launcher; it waits (its namespace set up) for a configuration on fd 3. */
export function spawnLauncher(launcherPath: string): ChildProcess {
  // The job can read its pid 1's command line: it names no host path.
  const child = spawn(launcherPath, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'], env: {}, argv0: 'cellblock-launcher' });
  // A launcher that dies before use, or a job that never reads its stdin, must not
  // turn into an unhandled stream error.
  const ignore = (): void => {};
  for (const s of child.stdio) s?.on('error', ignore);
  child.on('error', ignore);
  return child;
}

/**
 * Launchers started ahead of demand, so a job does not wait for Node to fork and
 * exec one (the largest single cost of a launch). Each is used once; a used one
 * is replaced in the background.
 */
export class LauncherPool {
  private readonly idle: ChildProcess[] = [];
  private closed = false;

  constructor(private readonly launcherPath: string, private readonly size: number) {
    this.refill();
  }

  /** A launcher for one job: a waiting one if there is one, else a new one. */
  take(): ChildProcess {
    let child = this.idle.shift();
    while (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) child = this.idle.shift();
    if (this.size > 0) setImmediate(() => this.refill());
    return child ?? spawnLauncher(this.launcherPath);
  }

  private refill(): void {
    while (!this.closed && this.idle.length < this.size) this.idle.push(spawnLauncher(this.launcherPath));
  }

  /** Discard the waiting launchers (an empty configuration ends them) and wait until they are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    await Promise.all(
      idle.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('close', () => resolve());
            (child.stdio[3] as Writable).end();
          }),
      ),
    );
  }
}

export class Launch {
  private readonly child: ChildProcess;
  readonly done: Promise<LaunchOutcome>;

  /** Configure a launcher from spawnLauncher() or a LauncherPool for one job. */
  constructor(child: ChildProcess, config: LaunchConfig, stdin: string, events: LaunchEvents) {
    this.child = child;
    const [jobStdin, jobStdout, jobStderr, configIn, reportOut] = this.child.stdio as [Writable, Readable, Readable, Writable, Readable];
    // Node's typings list five stdio entries; the sixth (fd 5) is there all the same.
    const collectOut = (this.child.stdio as readonly unknown[])[5] as Readable | null | undefined;
    // The launcher caps what it sends; this cap only guards against a broken launcher.
    const collectCap = config.collect ? config.collect.maxBytes + config.collect.maxFiles * 4096 + 1024 * 1024 : 0;
    const collectChunks: Buffer[] = [];
    let collectBytes = 0;
    collectOut?.on('data', (c: Buffer) => {
      collectBytes += c.length;
      if (collectBytes <= collectCap) collectChunks.push(c);
    });
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
    configIn.end(encodeConfig(config));
    jobStdin.end(stdin);

    this.done = new Promise<LaunchOutcome>((resolve) => {
      let spawnError: Error | undefined;
      if (this.child.pid === undefined) spawnError = new Error('the launcher could not be started');
      this.child.on('error', (err) => { spawnError = err; });
      // 'close' waits for every stdio stream to end: all output is in.
      this.child.on('close', (code, signal) => {
        const report = parseReport(reportText);
        if (spawnError && !report.setupFailed) {
          report.setupFailed = { stage: 'spawn', errno: 0, message: spawnError.message };
        }
        if (collectBytes > collectCap) report.warnings.push(`collect stream past ${collectCap} bytes: dropped`);
        resolve({ report, exit: { code, signal }, collected: collectBytes > collectCap ? Buffer.alloc(0) : Buffer.concat(collectChunks) });
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
