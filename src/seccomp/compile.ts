// Profile -> BPF bytes for the launcher, compiled once per profile and cached:
// the per-job path only copies bytes (heavy work before fork, as crun does).
import {
  compileBpf, resolveSyscall, scmpActErrno, SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS, SCMP_CMP_MASKED_EQ,
  type BpfRule,
} from '../sys/libseccomp.ts';
import type { SeccompAction, SeccompProfile } from './profile.ts';

function actionCode(a: SeccompAction): number {
  switch (a.kind) {
    case 'allow': return SCMP_ACT_ALLOW;
    case 'kill': return SCMP_ACT_KILL_PROCESS;
    case 'errno': return scmpActErrno(a.errno);
  }
}

export function toBpfRules(profile: SeccompProfile, resolve: (name: string) => number | undefined = resolveSyscall): BpfRule[] {
  const out: BpfRule[] = [];
  for (const rule of profile.rules) {
    const action = actionCode(rule.action);
    for (const name of rule.names) {
      const syscall = resolve(name);
      if (syscall === undefined) continue;
      if (rule.whenArgHasBits) {
        const { arg, bits } = rule.whenArgHasBits;
        for (const bit of bits) out.push({ syscall, action, args: [{ arg, op: SCMP_CMP_MASKED_EQ, datumA: bit, datumB: bit }] });
      } else {
        out.push({ syscall, action, args: [] });
      }
    }
  }
  return out;
}

const cache = new Map<SeccompProfile, Buffer>();

/** The profile's BPF program (struct sock_filter[]), compiled on first use. */
export function compileProfile(profile: SeccompProfile): Buffer {
  let bpf = cache.get(profile);
  if (!bpf) {
    bpf = compileBpf(actionCode(profile.defaultAction), toBpfRules(profile));
    cache.set(profile, bpf);
  }
  return bpf;
}
