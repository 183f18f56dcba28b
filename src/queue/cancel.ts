// Cancellation across processes. BullMQ can abort only the jobs of the process that
// runs them, so a cancel request travels through Redis: the canceller sets a key
// (read by a worker as it picks a job up, and polled while it runs) and then
// publishes the job id on a channel every worker listens to (seen at once). The
// key comes first, so a job picked up after the request never runs.
import { nothingRan, type JobResult } from '../job/result.ts';

/** How long a cancel request is kept: past any job's run and any stalled-job recovery. */
export const CANCEL_TTL_S = 24 * 3600;

/** The reason the worker aborts a job with when its owner cancelled it. */
export const CANCEL_REASON = 'cancelled by request';

/** `toKey` is BullMQ's key builder for the queue (`<prefix>:<queue>:<type>`). */
export const cancelKey = (toKey: (type: string) => string, bullJobId: string): string => toKey(`cancel:${bullJobId}`);

/** A pub/sub channel, not a key: it shares the queue's hash tag on a Cluster all the same. */
export const cancelChannel = (toKey: (type: string) => string): string => toKey('cancel');

/** The result of a job cancelled before its sandbox was made (a cancel that raced with pickup). */
export function cancelledBeforeStart(r: { jobId: string; image: string; worker: string; tenant: string; attempt: number; queuedMs: number }): JobResult {
  return {
    ...nothingRan(),
    jobId: r.jobId,
    verdict: 'CANCELLED',
    message: 'cancelled before it started',
    timings: { setupMs: 0, runMs: 0, teardownMs: 0, queuedMs: r.queuedMs },
    image: { name: r.image, digest: '' },
    worker: r.worker,
    tenant: r.tenant,
    attempt: r.attempt,
  };
}
