// A job's own seccomp profile in the OCI runtime-spec format (linux.seccomp, the
// JSON runc, crun and Docker read): defaultAction, defaultErrnoRet,
// architectures, syscalls[{names, action, errnoRet, args[{index, value,
// valueTwo, op}]}]. Docker's own file (archMap, includes/excludes) is accepted
// too. Validated here (zod, strict: a misspelt key in a security profile is an
// error, not a no-op) and turned into a SeccompProfile for ./compile.ts.
//
// What cellblock does not do: other architectures (the filter is compiled for
// this machine's; calls through another ABI kill the process), user
// notification and tracing (SCMP_ACT_NOTIFY, SCMP_ACT_TRACE: nobody listens).
import os from 'node:os';
import { z } from 'zod';
import type { ArgCondition, ArgOp, SeccompAction, SeccompProfile, SeccompRule } from './profile.ts';

const ACTIONS = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
] as const;
const OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;

const action = z.enum(ACTIONS, {
  message: `must be one of ${ACTIONS.join(', ')} (SCMP_ACT_TRACE and SCMP_ACT_NOTIFY are not supported: cellblock runs no tracer or listener)`,
});
const errno = z.number().int().min(1).max(4095);
/** An argument value: a JSON number loses precision above 2^53, so digits in a string are taken too. */
const u64 = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().regex(/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/)])
  .transform((v) => BigInt(v))
  .refine((v) => v < 1n << 64n, 'must fit in 64 bits');
const syscallName = z.string().regex(/^[a-z0-9_]{1,64}$/, 'syscall names are [a-z0-9_]');

const ArgSchema = z.object({
  index: z.number().int().min(0).max(5),
  value: u64,
  valueTwo: u64.optional(),
  op: z.enum(OPS),
}).strict();

const Filter = z.object({
  caps: z.array(z.string().max(64)).max(64).optional(),
  arches: z.array(z.string().max(64)).max(64).optional(),
  minKernel: z.string().regex(/^\d+\.\d+$/).optional(),
}).strict();

const SyscallSchema = z.object({
  names: z.array(syscallName).max(1024).optional(),
  /** Docker's older spelling of a single name. */
  name: syscallName.optional(),
  action,
  errnoRet: errno.optional(),
  args: z.array(ArgSchema).max(6).optional(),
  comment: z.string().max(4096).optional(),
  includes: Filter.optional(),
  excludes: Filter.optional(),
}).strict().refine((s) => (s.names?.length ?? 0) > 0 || s.name !== undefined, 'a syscall entry needs names');

export const OciSeccompSchema = z.object({
  defaultAction: action,
  defaultErrnoRet: errno.optional(),
  architectures: z.array(z.string().max(64)).max(32).optional(),
  archMap: z.array(z.object({ architecture: z.string().max(64), subArchitectures: z.array(z.string().max(64)).max(32).nullish() }).strict()).max(32).optional(),
  flags: z.array(z.string().max(64)).max(16).optional(),
  syscalls: z.array(SyscallSchema).max(1024).default([]),
}).strict();

export type OciSeccompProfile = z.output<typeof OciSeccompSchema>;
export type OciSeccompInput = z.input<typeof OciSeccompSchema>;

const EPERM = 1;

/** This machine's architecture under the names profiles use for it. */
function nativeArchNames(): string[] {
  switch (os.arch()) {
    case 'x64': return ['amd64', 'x86_64', 'SCMP_ARCH_X86_64'];
    case 'arm64': return ['arm64', 'aarch64', 'SCMP_ARCH_AARCH64'];
    default: return [os.arch()];
  }
}

function kernelAtLeast(min: string): boolean {
  const [wantMajor = 0, wantMinor = 0] = min.split('.').map(Number);
  const [major = 0, minor = 0] = os.release().split(/[.-]/).map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

type Entry = OciSeccompProfile['syscalls'][number];

/** Docker's conditions: does this entry apply to a job (no capabilities) on this machine? */
function applies(e: Entry): boolean {
  const native = nativeArchNames();
  const inc = e.includes;
  const exc = e.excludes;
  if (inc?.caps && inc.caps.length > 0) return false; // jobs never hold a capability
  if (inc?.arches && !inc.arches.some((a) => native.includes(a))) return false;
  if (inc?.minKernel && !kernelAtLeast(inc.minKernel)) return false;
  if (exc?.arches && exc.arches.some((a) => native.includes(a))) return false;
  if (exc?.minKernel && kernelAtLeast(exc.minKernel)) return false;
  return true;
}

function toAction(a: string, errnoRet: number | undefined): SeccompAction {
  switch (a) {
    case 'SCMP_ACT_ALLOW': return { kind: 'allow' };
    case 'SCMP_ACT_LOG': return { kind: 'log' };
    case 'SCMP_ACT_ERRNO': return { kind: 'errno', errno: errnoRet ?? EPERM };
    case 'SCMP_ACT_KILL_PROCESS': return { kind: 'kill' };
    case 'SCMP_ACT_KILL': // libseccomp's SCMP_ACT_KILL is the thread
    case 'SCMP_ACT_KILL_THREAD': return { kind: 'kill-thread' };
    case 'SCMP_ACT_TRAP': return { kind: 'trap' };
    default: throw new Error(`unsupported seccomp action ${a}`);
  }
}

const toOp = (op: (typeof OPS)[number]): ArgOp => op.slice('SCMP_CMP_'.length).toLowerCase() as ArgOp;

/** A validated OCI profile as cellblock's SeccompProfile. */
export function fromOci(p: OciSeccompProfile, name = 'oci'): SeccompProfile {
  const native = nativeArchNames();
  if (p.architectures && p.architectures.length > 0 && !p.architectures.some((a) => native.includes(a))) {
    throw new Error(`seccomp profile: architectures ${p.architectures.join(', ')} do not include this machine's (${native[native.length - 1]})`);
  }
  const rules: SeccompRule[] = [];
  for (const e of p.syscalls) {
    if (!applies(e)) continue;
    const names = [...(e.names ?? []), ...(e.name !== undefined ? [e.name] : [])];
    const act = toAction(e.action, e.errnoRet);
    const args: ArgCondition[] = (e.args ?? []).map((a) => ({ index: a.index, op: toOp(a.op), value: a.value, ...(a.valueTwo !== undefined ? { valueTwo: a.valueTwo } : {}) }));
    const indexes = new Set(args.map((a) => a.index));
    if (indexes.size === args.length) {
      rules.push({ names, action: act, ...(args.length > 0 ? { args } : {}) });
    } else {
      // libseccomp compares each argument once per rule: as runc does, two
      // comparisons of one argument become two rules (either may match).
      for (const a of args) rules.push({ names, action: act, args: [a] });
    }
  }
  return { name, defaultAction: toAction(p.defaultAction, p.defaultErrnoRet), rules };
}
