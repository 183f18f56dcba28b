// JobSpec: what a producer asks for. Validated once, at the edge (queue processor,
// CLI); everything inside trusts the parsed type.
import { z } from 'zod';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** A path inside the sandbox: absolute, no `..`, no NUL. */
const sandboxPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), 'must be an absolute path inside the sandbox')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

/** A file path relative to cwd (or absolute): confined to the sandbox, no `..`. */
const filePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => p.split('/').filter((s) => s !== '' && s !== '.').length > 0, 'must name a file');

const noNul = z.string().refine((s) => !s.includes('\0'), 'must not contain NUL');

export const LimitsSchema = z.object({
  /** Wall-clock time from exec to exit. */
  wallMs: z.number().int().min(1).max(24 * 3600 * 1000).default(10_000),
  /** CPU time (user + system) of all the job's processes and threads together. */
  cpuMs: z.number().int().min(1).max(24 * 3600 * 1000).default(5_000),
  /** Memory (anonymous, page cache, tmpfs) of the whole job; swap is never used. */
  memoryBytes: z.number().int().min(4 * MiB).max(256 * GiB).default(256 * MiB),
  /** CPU bandwidth: how many cores' worth the job may use at once. */
  cpus: z.number().min(0.01).max(1024).default(1),
  /** Processes and threads alive at once. */
  pids: z.number().int().min(1).max(1_000_000).default(64),
  /** Bytes kept of stdout and of stderr, each; more ends the job with OUTPUT_LIMIT. */
  outputBytes: z.number().int().min(0).max(1 * GiB).default(1 * MiB),
  /** Size of the writable layer (everything the job writes to its filesystem). */
  diskBytes: z.number().int().min(1 * MiB).max(1024 * GiB).default(64 * MiB),
  /** RLIMIT_NOFILE. */
  openFiles: z.number().int().min(4).max(1 << 20).default(256),
  /** RLIMIT_STACK. */
  stackBytes: z.number().int().min(64 * KiB).max(8 * GiB).default(8 * MiB),
});

export const JobFileSchema = z.object({
  /** Relative to the job's cwd, or absolute inside the sandbox. */
  path: filePath,
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  mode: z.number().int().min(0).max(0o777).default(0o644),
});

export const UserSchema = z.object({
  uid: z.number().int().min(0).max(65_535),
  gid: z.number().int().min(0).max(65_535),
});

export const JobSpecSchema = z
  .object({
    image: z.string().min(1).max(256).default('busybox'),
    cmd: z.array(noNul.max(128 * KiB)).min(1).max(4096).refine((a) => a[0] !== '', 'cmd[0] must not be empty'),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'), noNul.max(128 * KiB))
      .default({}),
    cwd: sandboxPath.default('/box'),
    /** Inside the sandbox; defaults to an unprivileged user. uid 0 inside is still unprivileged outside. */
    user: UserSchema.prefault({ uid: 1000, gid: 1000 }),
    hostname: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, 'hostname must be a DNS label').default('cellblock'),
    stdin: z.string().max(256 * MiB).default(''),
    files: z.array(JobFileSchema).max(1024).default([]),
    limits: LimitsSchema.prefault({}),
    network: z.literal('none').default('none'),
  })
  .strict();

export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobSpec = z.output<typeof JobSpecSchema>;
export type JobLimits = z.output<typeof LimitsSchema>;
export type JobFile = z.output<typeof JobFileSchema>;

/** Total bytes of the files a job carries, after decoding. */
export function filesSize(files: readonly JobFile[]): number {
  return files.reduce((n, f) => n + (f.encoding === 'base64' ? Buffer.byteLength(f.content, 'base64') : Buffer.byteLength(f.content)), 0);
}

/** Parse untrusted job data; throws InvalidJobError with every problem in one readable message. */
export function parseJobSpec(data: unknown): JobSpec {
  const parsed = JobSpecSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(job)'}: ${i.message}`);
    throw new InvalidJobError(`invalid job spec: ${problems.join('; ')}`);
  }
  const spec = parsed.data;
  if (filesSize(spec.files) > spec.limits.diskBytes) {
    throw new InvalidJobError(`invalid job spec: files: ${filesSize(spec.files)} bytes do not fit limits.diskBytes (${spec.limits.diskBytes})`);
  }
  return spec;
}

export class InvalidJobError extends Error {
  readonly code = 'INVALID_JOB';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidJobError';
  }
}
