// Typed errors that carry a stable `code`: they cross process boundaries (BullMQ
// stores only name and message), so callers match on `name`/`code`, not on classes.

export type ErrorCode =
  | 'INVALID_JOB'
  | 'INVALID_CONFIG'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_INVALID'
  | 'LAUNCHER_MISSING'
  | 'CGROUP_UNAVAILABLE'
  | 'CGROUP_FAILED'
  | 'SECCOMP_FAILED'
  | 'SANDBOX_FAILED'
  | 'NO_UID_RANGE';

export class CellblockError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CellblockError';
  }
}

/** errno-style code of a Node system error (ENOENT, EBUSY, ...), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
