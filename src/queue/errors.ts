// Errors of the queue client. Recognised by `name` and `code` like CellblockError.
// (Candidates for src/errors.ts's ErrorCode once the lead merges them.)

export type QueueErrorCode = 'JOB_FAILED' | 'JOB_NOT_FOUND' | 'WAIT_TIMEOUT';

export class QueueError extends Error {
  readonly code: QueueErrorCode;
  /** The BullMQ job id the error is about. */
  readonly jobId: string;

  constructor(code: QueueErrorCode, jobId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.jobId = jobId;
    this.name = 'QueueError';
  }
}
