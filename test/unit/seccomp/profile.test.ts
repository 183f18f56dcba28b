import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileProfile, toBpfRules } from '../../../src/seccomp/compile.ts';
import { CLONE_NAMESPACE_FLAGS, DEFAULT_PROFILE } from '../../../src/seccomp/profile.ts';

test('names resolve to rules; unknown names are skipped; clone gets one rule per namespace flag', () => {
  const numbers = new Map([['mount', 165], ['clone', 56], ['clone3', 435]]);
  const rules = toBpfRules(DEFAULT_PROFILE, (n) => numbers.get(n));
  assert.equal(rules.filter((r) => r.syscall === 165).length, 1);
  const clone = rules.filter((r) => r.syscall === 56);
  assert.equal(clone.length, CLONE_NAMESPACE_FLAGS.length);
  assert.ok(clone.every((r) => r.args.length === 1 && r.args[0]?.datumA === r.args[0]?.datumB));
  const clone3 = rules.find((r) => r.syscall === 435);
  assert.equal(clone3?.action, 0x00050000 | 38, 'clone3 answers ENOSYS');
  assert.equal(rules.find((r) => r.syscall === 165)?.action, 0x00050000 | 1, 'mount answers EPERM');
});

test('the default profile compiles with libseccomp into a BPF program, once', () => {
  const bpf = compileProfile(DEFAULT_PROFILE);
  assert.ok(bpf.length > 0 && bpf.length % 8 === 0, `struct sock_filter[] of ${bpf.length} bytes`);
  assert.equal(compileProfile(DEFAULT_PROFILE), bpf, 'cached');
});
