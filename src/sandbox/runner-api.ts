// The sandbox API the rest of cellblock uses: one Runner per worker process.
import type { JobSpec } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import type { Logger } from '../log.ts';
import type { Collected, CollectRequest } from './collect.ts';

export interface RunOptions {
  /** Unique per job run; names the cgroup and job directory. [A-Za-z0-9_-]{1,64}. */
  jobId: string;
  /** Aborting kills the running sandbox; the result says so. */
  signal?: AbortSignal;
  log?: Logger;
  /**
   * Copy files out of the job's root once every process of it is gone (patterns absolute
   * or relative to the job's cwd; `**` as last component: everything below; regular files
   * only, no link followed, capped); `onCollected` gets them before run() returns.
   * A broken collect stream makes the result INTERNAL_ERROR.
   */
  collect?: CollectRequest & { onCollected: (c: Collected) => void };
}

export interface ReconcileReport {
  cgroupsRemoved: number;
  jobDirsRemoved: number;
  processesKilled: number;
}

export interface Runner {
  /** Run one job in a fresh sandbox; always tears it down. Never throws for job faults. */
  run(spec: JobSpec, opts: RunOptions): Promise<JobResult>;
  /** Remove what a crashed worker left behind (cgroups, job dirs, processes). */
  reconcile(): Promise<ReconcileReport>;
  /** Wait for running jobs' teardown; idempotent. */
  close(): Promise<void>;
}

export interface RunnerOptions {
  /** Root of cellblock's state: images/, jobs/, uids/. */
  stateDir: string;
  log: Logger;
  /** First host uid/gid of the ranges that jobs map to; one range of 65536 per running job. */
  uidBase?: number;
  /** How many ranges (= jobs at once on this host) may be handed out. */
  uidRanges?: number;
  /** Path of the compiled launcher; default native/build/cellblock-launcher. */
  launcherPath?: string;
  /** Worker id recorded in results. */
  workerId?: string;
  /** The cgroup below the worker's own that holds job cgroups; default `cellblock`. */
  cgroupParent?: string;
  /**
   * Sandboxes kept prepared ahead of demand (about the number of jobs run at once):
   * uid range, job directory, cgroup, a supervisor with the user namespace mapped
   * and joined to the cgroup, and the other namespaces made. Each is used by one
   * job, then a fresh one is prepared. Default 1.
   */
  prepared?: number;
  /** A sandbox that has not started its job by then is stuck: killed, INTERNAL_ERROR. Default 30 s. */
  setupTimeoutMs?: number;
}

// Implemented in ./runner.ts:
//   export async function createRunner(opts: RunnerOptions): Promise<Runner>
