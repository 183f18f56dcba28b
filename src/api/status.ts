// What the HTTP API says about a job: BullMQ's states folded into four, with the
// result or the failure once there is one. Pure: tested without Redis.
import type { JobInfo } from '../queue/client.ts';
import type { JobResult } from '../job/result.ts';

export const API_STATUSES = ['queued', 'running', 'done', 'failed'] as const;
export type ApiStatus = (typeof API_STATUSES)[number];

/** A BullMQ job state as the API reports it; undefined for 'unknown' (no such job). */
export function apiStatus(state: string): ApiStatus | undefined {
  switch (state) {
    case 'waiting':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
      return 'queued';
    case 'active':
      return 'running';
    case 'completed':
      return 'done';
    case 'failed':
      return 'failed';
    default:
      return undefined;
  }
}

export interface JobView {
  id: string;
  status: ApiStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** When status is done: the JobResult (its verdict says how the job ended, CANCELLED included). */
  result?: JobResult;
  /** When status is failed: why the job produced no result (an image that does not exist, ...). */
  reason?: string;
}

/** The API's view of a stored job; undefined when it is gone. */
export function jobView(info: JobInfo): JobView | undefined {
  const status = apiStatus(info.state);
  if (status === undefined) return undefined;
  const view: JobView = { id: info.id, status, createdAt: new Date(info.createdAt).toISOString() };
  if (info.startedAt !== undefined && status !== 'queued') view.startedAt = new Date(info.startedAt).toISOString();
  if (info.finishedAt !== undefined && (status === 'done' || status === 'failed')) view.finishedAt = new Date(info.finishedAt).toISOString();
  if (status === 'done' && info.result !== undefined) view.result = info.result;
  if (status === 'failed') view.reason = info.failedReason ?? 'unknown';
  return view;
}
