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
  /** Judge jobs: a compile step failed (the compiler's output is in `message` and `stderr`). */
  'COMPILE_ERROR',
  /** Judge jobs: a test case ran fine but its output is not the expected one. */
  'WRONG_ANSWER',
  /** Judge jobs: the case's checker program failed (neither accepted nor rejected). */
  'CHECKER_ERROR',
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
  /** The job's exit to the facts in hand: reaping, files copied out, disk and cgroup stats. */
  collectMs?: number;
  /**
   * After the facts: ending a launcher that did not finish. The sandbox's cgroup,
   * mounts, directory and uid range are released after the result, in the background.
   */
  teardownMs: number;
  /** Submit to start (set by the queue worker). */
  queuedMs?: number;
}

/** How a process (or a step of them) ended and what it produced: shared by jobs and steps. */
export interface ProcessOutcome {
  exitCode: number | null;
  /** Name of the fatal signal (SIGSEGV, ...) or null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stats: JobStats;
}

/** The outcome of what never ran (a skipped step, a job cancelled before it started). */
export function nothingRan(): ProcessOutcome {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    stats: { wallMs: 0, cpuUserMs: 0, cpuSysMs: 0, cpuMs: 0, memoryPeakBytes: 0, pidsPeak: null, ioReadBytes: 0, ioWriteBytes: 0, oomKilled: false, diskUsedBytes: 0 },
  };
}

export interface JobResult extends ProcessOutcome {
  jobId: string;
  verdict: Verdict;
  /** Why, in one sentence, for anything but OK. */
  message?: string;
  timings: JobTimings;
  image: { name: string; digest: string };
  /** Set by the queue worker. */
  worker?: string;
  tenant?: string;
  /** 1 for the first run; more when earlier runs failed or their worker died (BullMQ retries). */
  attempt?: number;
  /** Judge jobs (steps or a preset): each step, in order; `verdict` above is the first failed step's. */
  steps?: StepResult[];
  /** Judge jobs: the files out of every step. */
  files?: OutputFile[];
  /** Judge jobs: the test cases of every step together. */
  summary?: CaseSummary;
}

/** A verdict, or a case or step that did not run because an earlier one failed. */
export type StepVerdict = Verdict | 'SKIPPED';

export interface CaseResult {
  name: string;
  verdict: StepVerdict;
  message?: string;
  exitCode: number | null;
  signal: string | null;
  /** The first bytes of the case's output (the whole of it is compared). */
  stdout: string;
  stderr: string;
  /** The checker's own output, when a checker judged the case. */
  checkerOutput?: string;
  stats: { wallMs: number; cpuMs: number; memoryPeakBytes: number };
}

export interface CaseSummary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  maxWallMs: number;
  maxCpuMs: number;
  maxMemoryBytes: number;
}

/** A step with cases: the outcome is the first failed case's (else the last case's). */
export interface StepResult extends ProcessOutcome {
  name: string;
  kind: 'compile' | 'run';
  verdict: StepVerdict;
  message?: string;
  cases?: CaseResult[];
  summary?: CaseSummary;
  /** Files the step asked for that were not copied out, and why (symlink, not_found, file_too_large, ...). */
  filesRefused?: { path: string; reason: string }[];
}

export interface OutputFile {
  /** Inside the sandbox, absolute. */
  path: string;
  step: string;
  mode: number;
  size: number;
  /** Small files: the content. */
  contentBase64?: string;
  /** Large files, when the worker has a results directory: where it was written. */
  resultPath?: string;
}
