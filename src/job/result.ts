// JobResult: what a job produced. Verdicts are decided from kernel facts (cgroup
// events and counters, wait status), never from exit codes alone.

export const VERDICTS = [
  'OK',
  'RUNTIME_ERROR',
  'TIME_LIMIT',
  'WALL_TIME_LIMIT',
  'MEMORY_LIMIT',
  'OUTPUT_LIMIT',
  'DISK_LIMIT',
  /** Cancelled by its owner (or the worker shutting down) while it ran. */
  'CANCELLED',
  'INTERNAL_ERROR',
] as const;

export type Verdict = (typeof VERDICTS)[number];

export interface JobStats {
  wallMs: number;
  cpuUserMs: number;
  cpuSysMs: number;
  /** cpuUserMs + cpuSysMs: the figure the cpu limit is checked against. */
  cpuMs: number;
  memoryPeakBytes: number;
  /** null where the kernel does not keep a peak (cgroup v1 pids). */
  pidsPeak: number | null;
  ioReadBytes: number;
  ioWriteBytes: number;
  oomKilled: boolean;
  /** Bytes used in the writable layer when the job ended. */
  diskUsedBytes: number;
}

export interface JobTimings {
  /** Spec to exec: cgroup, overlay, namespaces, seccomp. */
  setupMs: number;
  /** Exec to exit of the last process. */
  runMs: number;
  /** Kill, cgroup removal, unmount, job directory removal. */
  teardownMs: number;
  /** Submit to start (set by the queue worker). */
  queuedMs?: number;
}

export interface JobResult {
  jobId: string;
  verdict: Verdict;
  /** Why, in one sentence, for anything but OK. */
  message?: string;
  exitCode: number | null;
  /** Name of the fatal signal (SIGSEGV, ...) or null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stats: JobStats;
  timings: JobTimings;
  image: { name: string; digest: string };
  /** Set by the queue worker. */
  worker?: string;
  tenant?: string;
  /** 1 for the first run; more when earlier runs failed or their worker died (BullMQ retries). */
  attempt?: number;
}
