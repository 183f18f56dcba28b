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

/** One of a job's limits as a file write, for the launcher to make (native/PROTOCOL.md, `cgroup_write`). */
export interface CgroupWrite {
  /** Index into the cgroup's `dirs`. */
  dir: number;
  /** A file name in that directory. */
  file: string;
  value: string;
  /** A preference the kernel may refuse (then ignored), not a limit. */
  optional: boolean;
}

/** One job's cgroup (in v1: one directory per controller). Owned by exactly one sandbox. */
export interface JobCgroup {
  readonly name: string;
  /** Its directories (one per v1 hierarchy, one on v2): a sandbox's launcher makes them and joins them. */
  readonly dirs: readonly string[];
  /** Total cpu time used so far, in microseconds: cheap, read while the job runs. */
  cpuUsageUs(): number;
  stats(): CgroupStats;
  /** pids of every process in the cgroup now. */
  pids(): number[];
  /** The job's limits as writes, in the order they must be made (a sandbox's launcher makes them). */
  limitWrites(limits: CgroupLimits): CgroupWrite[];
  /** Set the job's limits now (before its first process runs anything of the job). */
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
  /** Create the per-job cgroup below the cellblock parent, with limits if given. */
  create(name: string, limits?: CgroupLimits): JobCgroup;
  /** Names of job cgroups that exist now (for reconcile after a crash). */
  list(): string[];
  /**
   * A handle on the job cgroup `name`, whether it exists (reconcile) or not yet (a
   * sandbox's launcher makes its directories: the worker's event loop never waits for them).
   */
  open(name: string): JobCgroup;
}
