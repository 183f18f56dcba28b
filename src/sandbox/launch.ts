// The launcher's per-job protocol (native/PROTOCOL.md): what one job's
// supervisor is told on its configuration pipe. Started by launcher-server.ts.
import type { CgroupWrite } from '../cgroup/index.ts';
import type { LauncherReport } from './report.ts';
import type { CollectRequest } from './collect.ts';

/** Stage one: who the sandbox is, known before its job (PROTOCOL.md, "run" request). */
export interface SandboxIdentity {
  uidBase: number;
  uidCount: number;
  /** The sandbox's directory: its writable layer and mount points are made there ahead. */
  jobDir: string;
  /** The sandbox's cgroup directories (one per v1 hierarchy): the launcher makes them, and its first process joins them. */
  cgroups: readonly string[];
}

/** Stage two: the job (configuration pipe, fd 3). */
export interface LaunchConfig {
  rootfs: string;
  filesLayer?: string;
  uid: number;
  gid: number;
  hostname: string;
  cwd: string;
  diskBytes: number;
  diskInodes: number;
  rlimits: { nofile: number; stack: number; fsize: number; cpuSeconds: number; nproc: number };
  /** The job's limits, written into the sandbox's cgroups before anything of the job runs. */
  cgroupWrites: readonly CgroupWrite[];
  /** BPF programs, installed in this order (they stack: the strictest answer wins). */
  seccomp: readonly Buffer[];
  /** KEY=VALUE */
  env: readonly string[];
  argv: readonly string[];
  /** Files to copy out of the job's root after it ended (the launcher's collect phase). */
  collect?: CollectRequest;
}

const entries = (list: readonly string[]): string => list.map((e) => `${e}\0`).join('');

export function encodeIdentity(id: SandboxIdentity): string {
  return entries([`uid_base=${id.uidBase}`, `uid_count=${id.uidCount}`, `jobdir=${id.jobDir}`, ...id.cgroups.map((d) => `cgroup=${d}`)]);
}

export function encodeConfig(c: LaunchConfig): Buffer {
  const list: string[] = [
    `rootfs=${c.rootfs}`,
    `uid=${c.uid}`, `gid=${c.gid}`, `hostname=${c.hostname}`, `cwd=${c.cwd}`,
    `disk_bytes=${c.diskBytes}`, `disk_inodes=${c.diskInodes}`,
    `rlimit_nofile=${c.rlimits.nofile}`, `rlimit_stack=${c.rlimits.stack}`, `rlimit_fsize=${c.rlimits.fsize}`,
    `rlimit_cpu=${c.rlimits.cpuSeconds}`, `rlimit_nproc=${c.rlimits.nproc}`,
  ];
  for (const w of c.cgroupWrites) list.push(`${w.optional ? 'cgroup_try' : 'cgroup_write'}=${w.dir} ${w.file} ${w.value}`);
  for (const bpf of c.seccomp) list.push(`seccomp=${bpf.toString('hex')}`);
  if (c.filesLayer) list.push(`files=${c.filesLayer}`);
  for (const e of c.env) list.push(`env=${e}`);
  for (const a of c.argv) list.push(`arg=${a}`);
  if (c.collect && c.collect.patterns.length > 0) {
    list.push(`collect_max_bytes=${c.collect.maxBytes}`, `collect_file_max_bytes=${c.collect.fileMaxBytes}`, `collect_max_files=${c.collect.maxFiles}`);
    for (const p of c.collect.patterns) list.push(`collect=${p}`);
  }
  return Buffer.from(entries(list));
}

export interface LaunchEvents {
  /** The sandbox is ready; the job is being forked. */
  onStarted(monoNs: bigint): void;
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

export interface LaunchOutcome {
  report: LauncherReport;
  /** How the job's supervisor ended: exit code 0 once it reported `done`. */
  exit: { code: number | null; signal: string | null };
  /** The raw collect stream (fd 5); empty when nothing was asked for. */
  collected: Buffer;
}

