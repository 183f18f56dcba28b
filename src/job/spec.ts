// JobSpec: what a producer asks for. Validated once, at the edge (queue processor,
// CLI); everything inside trusts the parsed type.
import path from 'node:path';
import { z } from 'zod';
import { OciSeccompSchema } from '../seccomp/oci.ts';

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

// --- Judge jobs: steps, test cases, comparison, files out, presets (src/judge/) ---

const L = LimitsSchema.shape;
/** A step's own limits, each over the job's. */
export const StepLimitsSchema = z
  .object({
    wallMs: L.wallMs.unwrap().optional(),
    cpuMs: L.cpuMs.unwrap().optional(),
    memoryBytes: L.memoryBytes.unwrap().optional(),
    cpus: L.cpus.unwrap().optional(),
    pids: L.pids.unwrap().optional(),
    outputBytes: L.outputBytes.unwrap().optional(),
    diskBytes: L.diskBytes.unwrap().optional(),
    openFiles: L.openFiles.unwrap().optional(),
    stackBytes: L.stackBytes.unwrap().optional(),
  })
  .strict();

const cmdSchema = z.array(noNul.max(128 * KiB)).min(1).max(4096).refine((a) => a[0] !== '', 'cmd[0] must not be empty');
const envSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'), noNul.max(128 * KiB));
const nameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'names are 1-64 characters of [A-Za-z0-9._-]');

/** One test case of a run step: what it reads and what it must print. */
export const TestCaseSchema = z
  .object({
    name: nameSchema.optional(),
    stdin: z.string().max(64 * MiB).default(''),
    expected: z.string().max(64 * MiB),
  })
  .strict();

/** A program that judges one case in a sandbox of its own: run as `cmd... INPUT EXPECTED ACTUAL`; exit 0 accepts, 1 rejects. */
export const CheckerSchema = z
  .object({
    cmd: cmdSchema,
    files: z.array(JobFileSchema).max(64).default([]),
    limits: StepLimitsSchema.optional(),
  })
  .strict();

/** How a case's stdout is compared with its expected output. */
export const CompareSchema = z.union([
  z.object({ mode: z.enum(['exact', 'trailing-whitespace', 'tokens']) }).strict(),
  z.object({ mode: z.literal('float'), absTol: z.number().min(0).max(1e9).default(1e-6), relTol: z.number().min(0).max(1e9).default(1e-6) }).strict(),
  z.object({ checker: CheckerSchema }).strict(),
]);

/** A path or glob of files to copy out after a step: relative to cwd or absolute; a glob only in the last component, or `**`. */
const filesOutPattern = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
  .refine((p) => !p.includes('\0') && !p.includes('\n'), 'must not contain NUL or newlines')
  .refine((p) => !/[*?[]/.test(path.posix.dirname(p)), 'a glob is allowed only in the last component');

/** One step of a job: its own fresh container over the job's workspace (cwd), carried from the step before. */
export const StepSchema = z
  .object({
    name: nameSchema,
    /** `compile`: a failure is COMPILE_ERROR, with the compiler's output. Default `run`. */
    kind: z.enum(['compile', 'run']).optional(),
    cmd: cmdSchema,
    stdin: z.string().max(256 * MiB).optional(),
    /** Over the job's env. */
    env: envSchema.optional(),
    /** Over the job's limits. */
    limits: StepLimitsSchema.optional(),
    /** A failed case does not stop the step's other cases, nor a failed step the next steps. Default false. */
    continueOnFailure: z.boolean().optional(),
    /** Run the command once per case (stdin = the case's), each in a fresh container. */
    cases: z.array(TestCaseSchema).min(1).max(1000).optional(),
    /** Default: `trailing-whitespace`. */
    compare: CompareSchema.optional(),
    /** Files copied out of the workspace after the step, into the result. */
    filesOut: z.array(filesOutPattern).max(64).optional(),
  })
  .strict();

export const PRESETS = ['c', 'cpp', 'python3', 'bash'] as const;
/** A job with a preset and no image runs on this one (gcc, g++, python3, bash). */
export const PRESET_IMAGE = 'toolchain';

export const UserSchema = z.object({
  uid: z.number().int().min(0).max(65_535),
  gid: z.number().int().min(0).max(65_535),
});

export const JobSpecSchema = z
  .object({
    image: z.string().min(1).max(256).default('busybox'),
    /** Optional when the image has an Entrypoint or Cmd: replaces Cmd, is appended to Entrypoint (as Docker does). */
    cmd: z.array(noNul.max(128 * KiB)).min(1).max(4096).refine((a) => a[0] !== '', 'cmd[0] must not be empty').optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'), noNul.max(128 * KiB))
      .default({}),
    /** Unset: the image's WorkingDir, else /box (resolved by the runner: src/image/job-defaults.ts). */
    cwd: sandboxPath.optional(),
    /** Inside the sandbox. Unset: the image's User, else 1000:1000. uid 0 inside is still unprivileged outside. */
    user: UserSchema.optional(),
    /** Who the job is billed to; per-tenant limits and metrics use it. */
    tenant: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'tenant must be 1-64 characters of [A-Za-z0-9._-]').default('default'),
    hostname: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, 'hostname must be a DNS label').default('cellblock'),
    stdin: z.string().max(256 * MiB).default(''),
    files: z.array(JobFileSchema).max(1024).default([]),
    limits: LimitsSchema.prefault({}),
    network: z.literal('none').default('none'),
    /**
     * A seccomp filter stacked on the one every job gets (it can only take away):
     * the built-in allowlist, or the job's own in the OCI format. In allowlist
     * mode a syscall the profile does not name answers ENOSYS.
     */
    seccomp: z.union([
      z.object({ profile: z.enum(['default', 'allowlist']) }).strict(),
      z.object({ oci: OciSeccompSchema }).strict(),
    ]).optional(),
    /** Instead of `cmd`: steps run in order, each in a fresh container over the job's workspace. */
    steps: z.array(StepSchema).min(1).max(32).optional(),
    /** Instead of `cmd` or `steps`: a language preset that expands to compile/run steps (src/judge/presets.ts). */
    preset: z.enum(PRESETS).optional(),
    /** With a preset: the program's source text. */
    source: z.string().max(16 * MiB).optional(),
    /** With a preset: the run step's test cases and comparison. */
    cases: z.array(TestCaseSchema).min(1).max(1000).optional(),
    compare: CompareSchema.optional(),
    /** With a preset: any field of its steps, overridden. */
    overrides: z.object({ compile: StepSchema.partial().optional(), run: StepSchema.partial().optional() }).strict().optional(),
  })
  .strict()
  .superRefine((job, ctx) => {
    const problem = (message: string, ...where: (string | number)[]): void => ctx.addIssue({ code: 'custom', message, path: where });
    if (job.steps !== undefined && job.preset !== undefined) problem('a job has steps or a preset, not both', 'preset');
    const judged = job.steps !== undefined || job.preset !== undefined;
    if (judged && job.cmd !== undefined) problem('a job with steps or a preset has no top-level cmd', 'cmd');
    if (judged && job.stdin !== '') problem('a job with steps or a preset has no top-level stdin (give each step or case its own)', 'stdin');
    if (job.preset !== undefined && job.source === undefined) problem('a preset needs the program\'s source', 'source');
    if (job.preset === undefined) {
      for (const k of ['source', 'cases', 'compare', 'overrides'] as const) if (job[k] !== undefined) problem('only with a preset', k);
    }
    const names = new Set<string>();
    (job.steps ?? []).forEach((step, i) => {
      if (names.has(step.name)) problem(`two steps named ${step.name}`, 'steps', i, 'name');
      names.add(step.name);
      if (step.cases !== undefined && step.stdin !== undefined) problem('a step with cases takes each case\'s stdin', 'steps', i, 'stdin');
      if (step.cases !== undefined && step.filesOut !== undefined) problem('files out are taken from steps without cases', 'steps', i, 'filesOut');
      if (step.cases !== undefined && step.kind === 'compile') problem('a compile step has no cases', 'steps', i, 'cases');
      if (step.cases === undefined && step.compare !== undefined) problem('compare needs cases', 'steps', i, 'compare');
    });
  });

export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobSpec = z.output<typeof JobSpecSchema>;
export type JobLimits = z.output<typeof LimitsSchema>;
export type JobFile = z.output<typeof JobFileSchema>;
export type JobStep = z.output<typeof StepSchema>;
export type StepLimits = z.output<typeof StepLimitsSchema>;
export type TestCase = z.output<typeof TestCaseSchema>;
export type Compare = z.output<typeof CompareSchema>;
export type Preset = (typeof PRESETS)[number];

/** A job the judge runs (steps or a preset) rather than one command. */
export function isJudgeJob(spec: JobSpec): boolean {
  return spec.steps !== undefined || spec.preset !== undefined;
}

/** Total bytes of the files a job carries, after decoding. */
export function filesSize(files: readonly JobFile[]): number {
  return files.reduce((n, f) => n + (f.encoding === 'base64' ? Buffer.byteLength(f.content, 'base64') : Buffer.byteLength(f.content)), 0);
}

/** Parse untrusted job data; throws InvalidJobError with every problem in one readable message. */
export function parseJobSpec(data: unknown): JobSpec {
  // A preset's default image is not busybox.
  const withImage = isRecord(data) && data.preset !== undefined && data.image === undefined ? { ...data, image: PRESET_IMAGE } : data;
  const parsed = JobSpecSchema.safeParse(withImage);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(job)'}: ${i.message}`);
    throw new InvalidJobError(`invalid job spec: ${problems.join('; ')}`);
  }
  const spec = parsed.data;
  if (filesSize(spec.files) > spec.limits.diskBytes) {
    throw new InvalidJobError(`invalid job spec: files: ${filesSize(spec.files)} bytes do not fit limits.diskBytes (${spec.limits.diskBytes})`);
  }
  for (const step of [{ cmd: spec.cmd, env: {} }, ...(spec.steps ?? [])]) {
    const env = { ...spec.env, ...step.env };
    const argBytes = [...(step.cmd ?? []), ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
    if (argBytes > MAX_EXEC_BYTES) {
      throw new InvalidJobError(`invalid job spec: cmd and env: ${argBytes} bytes, more than exec(2) ever takes (${MAX_EXEC_BYTES})`);
    }
  }
  const fileProblem = filesLayoutProblem(spec);
  if (fileProblem !== undefined) throw new InvalidJobError(`invalid job spec: files: ${fileProblem}`);
  return spec;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Linux's ceiling on argv + envp for any stack limit (3/4 of _STK_LIM). */
const MAX_EXEC_BYTES = 6 * MiB;
/** The sandbox mounts its own /proc and /dev over whatever a layer has there. */
const SANDBOX_MOUNTS = ['/proc', '/dev'];

/** Why the files cannot all be laid out as asked (a job's mistake, not ours), if they cannot. */
function filesLayoutProblem(spec: JobSpec): string | undefined {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const addDirs = (p: string): void => {
    for (let d = p; d !== '/'; d = path.posix.dirname(d)) dirs.add(d);
  };
  // Checked against /box when the cwd comes from the image (known only when the job runs).
  const cwd = spec.cwd ?? '/box';
  addDirs(cwd);
  for (const f of spec.files) {
    const inside = path.posix.resolve(cwd, f.path);
    const mount = SANDBOX_MOUNTS.find((m) => inside === m || inside.startsWith(`${m}/`));
    if (mount !== undefined) return `${f.path} lies in ${mount}, which the sandbox provides`;
    if (files.has(inside)) return `${f.path}: two files at ${inside}`;
    files.add(inside);
    addDirs(path.posix.dirname(inside));
  }
  for (const f of files) if (dirs.has(f)) return `${f} is both a file and a directory`;
  return undefined;
}

export class InvalidJobError extends Error {
  readonly code = 'INVALID_JOB';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidJobError';
  }
}
