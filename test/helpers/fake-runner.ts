// A Runner that runs nothing: returns a canned JobResult, records what it was asked.
// For queue tests only; the real sandbox is tested against the kernel elsewhere.
import type { JobSpec } from '../../src/job/spec.ts';
import type { JobResult } from '../../src/job/result.ts';
import type { ReconcileReport, RunOptions, Runner } from '../../src/sandbox/runner-api.ts';

export interface FakeRunnerCall {
  spec: JobSpec;
  jobId: string;
}

export type FakeBehaviour = (spec: JobSpec, opts: RunOptions) => Promise<JobResult> | JobResult;

export function cannedResult(jobId: string, over: Partial<JobResult> = {}): JobResult {
  return {
    jobId,
    verdict: 'OK',
    exitCode: 0,
    signal: null,
    stdout: 'hello\n',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    stats: {
      wallMs: 12,
      cpuUserMs: 3,
      cpuSysMs: 2,
      cpuMs: 5,
      memoryPeakBytes: 3 * 1024 * 1024,
      pidsPeak: 1,
      ioReadBytes: 0,
      ioWriteBytes: 0,
      oomKilled: false,
      diskUsedBytes: 0,
    },
    timings: { setupMs: 4, runMs: 12, teardownMs: 2 },
    image: { name: 'busybox', digest: 'sha256:' + '0'.repeat(64) },
    ...over,
  };
}

export class FakeRunner implements Runner {
  readonly calls: FakeRunnerCall[] = [];
  closeCount = 0;
  reconcileCount = 0;
  private readonly behaviour: FakeBehaviour;

  constructor(behaviour: FakeBehaviour = (_spec, opts) => cannedResult(opts.jobId)) {
    this.behaviour = behaviour;
  }

  async run(spec: JobSpec, opts: RunOptions): Promise<JobResult> {
    this.calls.push({ spec, jobId: opts.jobId });
    return this.behaviour(spec, opts);
  }

  async reconcile(): Promise<ReconcileReport> {
    this.reconcileCount++;
    return { cgroupsRemoved: 0, jobDirsRemoved: 0, processesKilled: 0 };
  }

  async close(): Promise<void> {
    this.closeCount++;
  }
}

/** A behaviour that runs until aborted, then returns what a killed sandbox would. */
export const untilAborted: FakeBehaviour = (_spec, opts) =>
  new Promise((resolve) => {
    const done = (): void => resolve(cannedResult(opts.jobId, { verdict: 'RUNTIME_ERROR', exitCode: null, signal: 'SIGKILL' }));
    if (opts.signal?.aborted === true) done();
    else opts.signal?.addEventListener('abort', done, { once: true });
  });
