// Options every cellblock job gets unless the producer overrides them.
import type { DefaultJobOptions } from 'bullmq';

/** The BullMQ job name cellblock jobs are added under. */
export const JOB_NAME = 'run';

export const DEFAULT_JOB_OPTIONS = {
  // A job is an untrusted program: re-running it after it failed is the producer's
  // call, not ours. Stalled jobs (worker died) are still recovered by BullMQ.
  attempts: 1,
  // Results stay readable for a day (or the last 10k); failures for a week (or 10k),
  // so Redis memory stays bounded however many jobs pass through.
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
} as const satisfies DefaultJobOptions;
