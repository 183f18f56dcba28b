// A job's own seccomp filter on top of the baseline: the built-in allowlist and
// OCI profiles. In allowlist mode an unknown syscall answers ENOSYS, never
// EPERM; no profile can loosen the baseline.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OciSeccompInput } from '../../src/seccomp/oci.ts';
import { ALLOWED_SYSCALLS } from '../../src/seccomp/profile.ts';
import { ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);
const oci = (p: OciSeccompInput) => ({ seccomp: { oci: p } });

describe('seccomp profiles', () => {
  test('allowlist: ordinary programs run as usual', async () => {
    const r = await run(['sh', '-c', 'echo hi | tr a-z A-Z; ls / >/dev/null; sleep 0.01 & wait; cat /proc/self/status | grep -c Seccomp_filters'], { seccomp: { profile: 'allowlist' } });
    assert.equal(r.verdict, 'OK', `${r.message} ${r.stderr}`);
    assert.equal(r.stdout, 'HI\n1\n');
  });

  test('allowlist: two filters are stacked, the baseline first', async () => {
    const r = await run(['sh', '-c', 'grep Seccomp_filters /proc/self/status'], { seccomp: { profile: 'allowlist' } });
    assert.match(r.stdout, /Seccomp_filters:\s+2/);
  });

  test('allowlist: a syscall it does not know answers ENOSYS, not EPERM', async () => {
    const r = await run(['cbfix', 'sethostname'], { ...ROOT, seccomp: { profile: 'allowlist' } });
    assert.equal(r.stdout, 'sethostname: Function not implemented\n');
    const dflt = await run(['cbfix', 'sethostname'], ROOT);
    assert.equal(dflt.stdout, 'sethostname: Operation not permitted\n', 'without it: the kernel says no capability');
  });

  test("allowlist: the baseline's refusals still answer EPERM", async () => {
    const r = await run(['sh', '-c', 'cbfix mount; cbfix unshare; cbfix clone-newuser; cbfix socket 40 1'], { ...ROOT, seccomp: { profile: 'allowlist' } });
    assert.equal(r.stdout, 'mount: Operation not permitted\nunshare: Operation not permitted\nclone-newuser: Operation not permitted\nsocket: Address family not supported by protocol\n');
  });

  test('OCI profile: a denylist entry refuses with its own errno', async () => {
    const r = await run(['cbfix', 'mkdir', '/tmp/d'], oci({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }));
    assert.equal(r.stdout, 'mkdir: Permission denied\n');
  });

  test('OCI profile in allowlist mode: what it does not name answers ENOSYS even when it asks for EPERM', async () => {
    const r = await run(['sh', '-c', 'cbfix mkdir /tmp/d; cbfix sethostname; echo done'], {
      ...ROOT,
      ...oci({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ALLOWED_SYSCALLS.filter((n) => n !== 'mkdir' && n !== 'mkdirat'), action: 'SCMP_ACT_ALLOW' }, { names: ['clone'], action: 'SCMP_ACT_ALLOW' }] }),
    });
    assert.equal(r.verdict, 'OK', `${r.message} ${r.stderr}`);
    assert.equal(r.stdout, 'mkdir: Function not implemented\nsethostname: Function not implemented\ndone\n');
  });

  test('an OCI profile cannot loosen the baseline', async () => {
    const r = await run(['sh', '-c', 'cbfix mount; cbfix unshare; cbfix bpf'], { ...ROOT, ...oci({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount', 'unshare', 'bpf'], action: 'SCMP_ACT_ALLOW' }] }) });
    assert.equal(r.stdout, 'mount: Operation not permitted\nunshare: Operation not permitted\nbpf: Operation not permitted\n');
  });

  test('an OCI profile that kills on a syscall kills (SIGSYS), and the verdict says so', async () => {
    const r = await run(['cbfix', 'mkdir', '/tmp/d'], oci({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] }));
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.signal, 'SIGSYS');
  });

  test('profiles cellblock cannot honour are the job\'s error, up front', async () => {
    await assert.rejects(run(['true'], oci({ defaultAction: 'SCMP_ACT_NOTIFY' as 'SCMP_ACT_ALLOW' })), { code: 'INVALID_JOB' });
    await assert.rejects(run(['true'], oci({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_S390X'] })), { code: 'INVALID_JOB', message: /architectures/ });
    await assert.rejects(run(['true'], { seccomp: { oci: { defaultaction: 'SCMP_ACT_ALLOW' } } }), { code: 'INVALID_JOB' });
  });
});
