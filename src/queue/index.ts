// Public API of the queue layer.
export { CellblockWorker, type CellblockWorkerOptions } from './worker.ts';
export { CellblockClient, type CancelOutcome, type CellblockClientOptions, type JobInfo, type SubmitOptions } from './client.ts';
export { createRedisConnection, pingRedis } from './connection.ts';
export { DEFAULT_JOB_OPTIONS, JOB_NAME } from './job-options.ts';
export { sandboxJobId } from './job-id.ts';
export { QueueError, type QueueErrorCode } from './errors.ts';
