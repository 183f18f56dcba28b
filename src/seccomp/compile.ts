// Profile -> BPF bytes for the launcher, compiled once per profile and cached:
// the per-job path only copies bytes (heavy work before fork, as crun does).
//
// Every job gets the baseline filter; a job that chose a tighter one gets it
// stacked on top (jobFilters). The kernel runs every filter and the strictest
// answer wins, so a job's profile can take away but never give back. Between
// two errno answers the newest filter's wins, so a job's profile is compiled
// with the baseline's refusals folded in: a call both refuse answers the
// baseline's errno, not ENOSYS.
//
// Allowlist mode (a profile whose default is not allow): a syscall the profile
// does not name answers ENOSYS, whatever default it asked for, so a newer libc
// that tries a call the profile predates (clone3, faccessat2, statx, ...) falls
// back to the older call instead of failing with EPERM.
import { createHash } from 'node:crypto';
import { CellblockError, errorMessage } from '../errors.ts';
import {
  compileBpf, resolveSyscall, scmpActErrno, SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_LOG,
  SCMP_ACT_TRAP, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_LE, SCMP_CMP_LT, SCMP_CMP_MASKED_EQ, SCMP_CMP_NE,
  type ArgCmp, type BpfRule,
} from '../sys/libseccomp.ts';
import { fromOci, type OciSeccompProfile } from './oci.ts';
import {
  ALLOWLIST_PROFILE, BASELINE_PROFILE, ENOSYS, isAllowlist, type ArgOp, type SeccompAction, type SeccompProfile,
  type SeccompRule,
} from './profile.ts';

/** A job's choice (JobSpec.seccomp): a built-in profile, or its own in the OCI format. */
export type JobSeccomp = { profile: 'default' | 'allowlist' } | { oci: OciSeccompProfile };

/** The kernel's limit on one filter program (BPF_MAXINSNS). */
const MAX_INSTRUCTIONS = 4096;
/** Distinct job profiles kept compiled; the oldest is dropped past this. */
const MAX_CACHED_OCI = 64;

function actionCode(a: SeccompAction): number {
  switch (a.kind) {
    case 'allow': return SCMP_ACT_ALLOW;
    case 'log': return SCMP_ACT_LOG;
    case 'kill': return SCMP_ACT_KILL_PROCESS;
    case 'kill-thread': return SCMP_ACT_KILL_THREAD;
    case 'trap': return SCMP_ACT_TRAP;
    case 'errno': return scmpActErrno(a.errno);
  }
}

const OPS: Record<ArgOp, number> = {
  ne: SCMP_CMP_NE, lt: SCMP_CMP_LT, le: SCMP_CMP_LE, eq: SCMP_CMP_EQ, ge: SCMP_CMP_GE, gt: SCMP_CMP_GT, masked_eq: SCMP_CMP_MASKED_EQ,
};

/** The action a syscall the profile does not name gets. */
export function effectiveDefault(profile: SeccompProfile): SeccompAction {
  return isAllowlist(profile) ? { kind: 'errno', errno: ENOSYS } : profile.defaultAction;
}

/** One rule's argument comparisons, as libseccomp chains (ANDs) them. */
function argChains(rule: SeccompRule): ArgCmp[][] {
  if (rule.whenArgHasBits) {
    const { arg, bits } = rule.whenArgHasBits;
    return bits.map((bit) => [{ arg, op: SCMP_CMP_MASKED_EQ, datumA: bit, datumB: bit }]);
  }
  const chain = (rule.args ?? []).map((c) => ({ arg: c.index, op: OPS[c.op], datumA: c.value, datumB: c.valueTwo ?? 0n }));
  return [chain];
}

export function toBpfRules(profile: SeccompProfile, resolve: (name: string) => number | undefined = resolveSyscall): BpfRule[] {
  const out: BpfRule[] = [];
  const fallback = actionCode(effectiveDefault(profile));
  for (const rule of profile.rules) {
    const action = actionCode(rule.action);
    // libseccomp refuses a rule that only repeats the default.
    if (action === fallback) continue;
    for (const name of rule.names) {
      const syscall = resolve(name);
      if (syscall === undefined) continue;
      for (const args of argChains(rule)) out.push({ syscall, action, args });
    }
  }
  return out;
}

/**
 * A job's profile with the baseline's rules added for every syscall the job's
 * profile does not name: the baseline refuses those anyway, and this way they
 * answer the baseline's errno (EPERM) rather than the job profile's default.
 */
export function withBaselineRefusals(profile: SeccompProfile): SeccompProfile {
  const named = new Set(profile.rules.flatMap((r) => r.names));
  const extra: SeccompRule[] = [];
  for (const rule of BASELINE_PROFILE.rules) {
    if (rule.action.kind === 'allow') continue;
    const names = rule.names.filter((n) => !named.has(n));
    if (names.length > 0) extra.push({ ...rule, names });
  }
  return { ...profile, rules: [...profile.rules, ...extra] };
}

function compile(profile: SeccompProfile): Buffer {
  const bpf = compileBpf(actionCode(effectiveDefault(profile)), toBpfRules(profile));
  const instructions = bpf.length / 8;
  if (instructions > MAX_INSTRUCTIONS) {
    throw new CellblockError('INVALID_JOB', `seccomp profile ${profile.name}: ${instructions} BPF instructions, the kernel takes at most ${MAX_INSTRUCTIONS}`);
  }
  return bpf;
}

const cache = new Map<SeccompProfile, Buffer>();

/** The profile's BPF program (struct sock_filter[]), compiled on first use. */
export function compileProfile(profile: SeccompProfile): Buffer {
  let bpf = cache.get(profile);
  if (!bpf) {
    bpf = compile(profile);
    cache.set(profile, bpf);
  }
  return bpf;
}

const ociCache = new Map<string, Buffer>();

/** A job's own OCI profile, compiled once per distinct content. */
function compileOci(oci: OciSeccompProfile): Buffer {
  const key = createHash('sha256').update(JSON.stringify(oci, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).digest('hex');
  let bpf = ociCache.get(key);
  if (bpf) {
    // Most recently used goes last; the first is the one to drop.
    ociCache.delete(key);
  } else {
    try {
      bpf = compile(withBaselineRefusals(fromOci(oci, `oci:${key.slice(0, 12)}`)));
    } catch (err) {
      // The profile is the job's: its faults are the job's, not ours.
      throw new CellblockError('INVALID_JOB', `invalid job spec: seccomp: ${errorMessage(err)}`, { cause: err });
    }
    if (ociCache.size >= MAX_CACHED_OCI) {
      const oldest = ociCache.keys().next().value;
      if (oldest !== undefined) ociCache.delete(oldest);
    }
  }
  ociCache.set(key, bpf);
  return bpf;
}

const ALLOWLIST_WITH_REFUSALS = withBaselineRefusals(ALLOWLIST_PROFILE);

/** The filters a job gets, in the order they are installed: the baseline first. */
export function jobFilters(choice: JobSeccomp | undefined): Buffer[] {
  const baseline = compileProfile(BASELINE_PROFILE);
  if (choice === undefined || ('profile' in choice && choice.profile === 'default')) return [baseline];
  if ('profile' in choice) return [baseline, compileProfile(ALLOWLIST_WITH_REFUSALS)];
  return [baseline, compileOci(choice.oci)];
}
