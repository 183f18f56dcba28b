import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { effectiveDefault, jobFilters, toBpfRules, withBaselineRefusals } from '../../../src/seccomp/compile.ts';
import { fromOci, OciSeccompSchema } from '../../../src/seccomp/oci.ts';
import { ALLOWLIST_PROFILE, BASELINE_PROFILE } from '../../../src/seccomp/profile.ts';

const parse = (p: unknown) => OciSeccompSchema.parse(p);
const numbers = new Map([['read', 0], ['write', 1], ['mount', 165], ['mkdir', 83], ['personality', 135], ['socket', 41]]);
const resolve = (n: string) => numbers.get(n);

describe('OCI seccomp profiles', () => {
  test('an allowlist profile answers ENOSYS for what it does not name, whatever default it asks for', () => {
    const p = fromOci(parse({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] }));
    assert.deepEqual(effectiveDefault(p), { kind: 'errno', errno: 38 });
    const kill = fromOci(parse({ defaultAction: 'SCMP_ACT_KILL_PROCESS' }));
    assert.deepEqual(effectiveDefault(kill), { kind: 'errno', errno: 38 });
    const deny = fromOci(parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    assert.deepEqual(effectiveDefault(deny), { kind: 'allow' }, 'a denylist keeps its default');
    assert.deepEqual(deny.rules[0]?.action, { kind: 'errno', errno: 1 }, 'errnoRet defaults to EPERM');
  });

  test("Docker's format: includes.caps entries are skipped (jobs have none); arches and minKernel filter", () => {
    const p = fromOci(parse({
      defaultAction: 'SCMP_ACT_ERRNO',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW', comment: 'always' },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['mkdir'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['s390x'] } },
        { name: 'write', action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      ],
    }));
    assert.deepEqual(p.rules.map((r) => r.names), [['read'], ['write']]);
  });

  test('two comparisons of one argument become two rules, as runc does', () => {
    const p = fromOci(parse({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] }],
    }));
    const rules = toBpfRules(p, resolve);
    assert.equal(rules.length, 2);
    assert.deepEqual(rules.map((r) => r.args[0]?.datumA), [0n, 8n]);
  });

  test('masked_eq takes value as the mask and valueTwo as the datum; big values as strings', () => {
    const p = fromOci(parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: '0xffffffff00000000', valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }] }));
    const [rule] = toBpfRules(p, resolve);
    assert.deepEqual(rule?.args, [{ arg: 1, op: 7, datumA: 0xffffffff00000000n, datumB: 0n }]);
  });

  test('refused: notify and trace, unknown keys, other architectures', () => {
    assert.throws(() => parse({ defaultAction: 'SCMP_ACT_NOTIFY' }));
    assert.throws(() => parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_TRACE' }] }));
    assert.throws(() => parse({ defaultaction: 'SCMP_ACT_ALLOW' }), 'a misspelt key is an error');
    assert.throws(() => fromOci(parse({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_S390X'] })), /architectures/);
  });

  test("the baseline's refusals are folded into a job's profile for what it does not name", () => {
    const p = withBaselineRefusals(fromOci(parse({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'mount'], action: 'SCMP_ACT_ALLOW' }] })));
    const rules = toBpfRules(p, resolve);
    assert.ok(!rules.some((r) => r.syscall === 165 && r.action !== 0x7fff0000), 'mount is the job profile\'s (the baseline filter still refuses it)');
    assert.ok(rules.some((r) => r.syscall === 135 && r.action === (0x00050000 | 1)), 'personality: EPERM, from the baseline');
    assert.ok(rules.some((r) => r.syscall === 41 && r.action === (0x00050000 | 97)), 'socket families: EAFNOSUPPORT');
  });

  test('rules that repeat the default are dropped (libseccomp refuses them)', () => {
    const p = fromOci(parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    assert.deepEqual(toBpfRules(p, resolve).map((r) => r.syscall), [83]);
  });

  test('jobFilters: the baseline alone, or the baseline then the job\'s; compiled once per content', () => {
    assert.equal(jobFilters(undefined).length, 1);
    assert.equal(jobFilters({ profile: 'default' }).length, 1);
    const allow = jobFilters({ profile: 'allowlist' });
    assert.equal(allow.length, 2);
    assert.equal(allow[0], jobFilters(undefined)[0]);
    const a = jobFilters({ oci: parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }) });
    const b = jobFilters({ oci: parse({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }) });
    assert.equal(a[1], b[1], 'same content, same compiled program');
    for (const bpf of [...allow, ...a]) assert.ok(bpf.length > 0 && bpf.length % 8 === 0 && bpf.length / 8 <= 4096);
  });

  test('the built-in profiles: baseline is a denylist, allowlist is not', () => {
    assert.deepEqual(effectiveDefault(BASELINE_PROFILE), { kind: 'allow' });
    assert.deepEqual(effectiveDefault(ALLOWLIST_PROFILE), { kind: 'errno', errno: 38 });
  });
});
