// cellblock's public API for code that embeds it: the job shapes, the typed
// queue client and worker, and the direct (no Redis) runner.
export { JobSpecSchema, parseJobSpec, InvalidJobError, type JobSpec, type JobSpecInput, type JobLimits, type JobFile } from './job/spec.ts';
export { VERDICTS, type JobResult, type JobStats, type JobTimings, type Verdict } from './job/result.ts';
export { CellblockClient, CellblockWorker } from './queue/index.ts';
export { createRunner, type Runner, type RunnerOptions, type RunOptions } from './sandbox/runner.ts';
export { ImageStore } from './image/store.ts';
export { CellblockError, type ErrorCode } from './errors.ts';
