// One interface over cgroup v1 and v2. Callers never ask which version they have.
// Kernel paths are constructor parameters so drivers can be tested on a temp dir.

export interface CgroupLimits {
  memoryBytes: number;
  /** CPU bandwidth in cores (cfs quota / period). */
  cpus: number;
  pids: number;
}

export interface CgroupStats {
  cpuUserUs: number;
  cpuSystemUs: number;
  memoryPeakBytes: number;
  /** Which kernel file the peak came from (memory.peak, memory.max_usage_in_bytes, memory.current...). */
  memoryPeakSource: string;
  oomKills: number;
  /** null where the kernel keeps no peak (pids.peak: kernel 6.1+, on v1 and v2 alike). */
  pidsPeak: number | null;
  ioReadBytes: number;
  ioWriteBytes: number;
}

/** One job's cgroup (in v1: one directory per controller). Owned by exactly one sandbox. */
export interface JobCgroup {
  readonly name: string;
  /** Files the launcher writes the job's first pid into (one per v1 hierarchy, one on v2). */
  readonly procsFiles: readonly string[];
  /** Total cpu time used so far, in microseconds: cheap, read while the job runs. */
  cpuUsageUs(): number;
  stats(): CgroupStats;
  /** pids of every process in the cgroup now. */
  pids(): number[];
  /** Set the job's limits (before its first process runs anything of the job). */
  applyLimits(limits: CgroupLimits): void;
  /** Kill every process in the cgroup at once and wait until it is empty. */
  killAll(): Promise<void>;
  /** Remove the cgroup (killing what is left first). Idempotent. */
  remove(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Human-readable location of the `cellblock` parent(s), for logs and doctor. */
  readonly parents: readonly string[];
  /**
   * Create the per-job cgroup below the cellblock parent, with limits if given
   * (a sandbox prepared ahead of its job gets them later, from applyLimits).
   */
  create(name: string, limits?: CgroupLimits): JobCgroup;
  /** create() without limits, its directories made off the event loop (for sandboxes prepared ahead). */
  createEmpty(name: string): Promise<JobCgroup>;
  /** Names of job cgroups that exist now (for reconcile after a crash). */
  list(): string[];
  /** A handle on an existing job cgroup (for reconcile). */
  open(name: string): JobCgroup;
}
