import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseReport } from '../../../src/sandbox/report.ts';
import { decideVerdict, type VerdictFacts } from '../../../src/sandbox/verdict.ts';

const exitedOk = 'started mono_ns=100\nexited mono_ns=200 status=0 utime_us=1 stime_us=2 maxrss_kb=3\ndone disk_used=4096 disk_free=100 inodes_used=3 inodes_free=10\n';

function facts(report: string, extra: Partial<VerdictFacts> = {}): VerdictFacts {
  return {
    report: parseReport(report),
    oomKills: 0,
    cpuMs: 10,
    cpuLimitMs: 1000,
    wallLimitMs: 2000,
    setupLimitMs: 30_000,
    outputLimitBytes: 100,
    launcherExit: { code: 0, signal: null },
    ...extra,
  };
}

describe('decideVerdict', () => {
  test('exit 0 is OK', () => {
    assert.deepEqual(decideVerdict(facts(exitedOk)), { verdict: 'OK', exitCode: 0, signal: null });
  });

  test('exit code and fatal signal are RUNTIME_ERROR', () => {
    const code = decideVerdict(facts(exitedOk.replace('status=0', `status=${3 << 8}`)));
    assert.equal(code.verdict, 'RUNTIME_ERROR');
    assert.equal(code.exitCode, 3);
    const sig = decideVerdict(facts(exitedOk.replace('status=0', 'status=6')));
    assert.deepEqual([sig.verdict, sig.signal, sig.exitCode], ['RUNTIME_ERROR', 'SIGABRT', null]);
  });

  test('an oom kill wins over the exit the kill caused', () => {
    const d = decideVerdict(facts(exitedOk.replace('status=0', 'status=9'), { oomKills: 1 }));
    assert.equal(d.verdict, 'MEMORY_LIMIT');
    assert.equal(d.signal, 'SIGKILL');
  });

  test('cpu over the limit is TIME_LIMIT even if the job finished', () => {
    assert.equal(decideVerdict(facts(exitedOk, { cpuMs: 1001 })).verdict, 'TIME_LIMIT');
    assert.equal(decideVerdict(facts(exitedOk.replace('status=0', 'status=24'), { cpuMs: 2100 })).verdict, 'TIME_LIMIT', 'SIGXCPU at RLIMIT_CPU');
  });

  test('SIGXCPU or SIGXFSZ a job sent itself is no limit: RUNTIME_ERROR', () => {
    const xcpu = decideVerdict(facts(exitedOk.replace('status=0', 'status=24')));
    assert.deepEqual([xcpu.verdict, xcpu.signal], ['RUNTIME_ERROR', 'SIGXCPU']);
    const xfsz = decideVerdict(facts(exitedOk.replace('status=0', 'status=25')));
    assert.deepEqual([xfsz.verdict, xfsz.signal], ['RUNTIME_ERROR', 'SIGXFSZ']);
  });

  test('our own kills name their reason', () => {
    const killed = 'started mono_ns=1\ndone disk_used=0 disk_free=1 inodes_used=0 inodes_free=1\n';
    assert.equal(decideVerdict(facts(killed, { killedFor: 'wall' })).verdict, 'WALL_TIME_LIMIT');
    assert.equal(decideVerdict(facts(killed, { killedFor: 'cpu' })).verdict, 'TIME_LIMIT');
    assert.equal(decideVerdict(facts(killed, { killedFor: 'output' })).verdict, 'OUTPUT_LIMIT');
    assert.equal(decideVerdict(facts(killed, { killedFor: 'cancel' })).verdict, 'CANCELLED');
    const stuck = decideVerdict(facts('', { killedFor: 'setup' }));
    assert.equal(stuck.verdict, 'INTERNAL_ERROR', 'a stuck setup is our fault, not a wall-time verdict');
    assert.match(stuck.message ?? '', /did not start the job within 30000 ms/);
  });

  test('a full writable layer with a failed exit is DISK_LIMIT; SIGXFSZ too', () => {
    const full = exitedOk.replace('status=0', `status=${1 << 8}`).replace('disk_free=100', 'disk_free=0');
    assert.equal(decideVerdict(facts(full)).verdict, 'DISK_LIMIT');
    const noInodes = exitedOk.replace('status=0', `status=${1 << 8}`).replace('inodes_free=10', 'inodes_free=0');
    assert.equal(decideVerdict(facts(noInodes)).verdict, 'DISK_LIMIT');
    assert.equal(decideVerdict(facts(exitedOk.replace('status=0', 'status=25').replace('disk_free=100', 'disk_free=0'))).verdict, 'DISK_LIMIT', 'SIGXFSZ on a full layer');
    assert.equal(decideVerdict(facts(exitedOk.replace('disk_free=100', 'disk_free=0'))).verdict, 'OK', 'a job that filled the disk and still succeeded');
  });

  test('exec failure is RUNTIME_ERROR with a readable message', () => {
    const d = decideVerdict(facts('started mono_ns=1\nexec_failed errno=2 what=exec path=gcc\nexited mono_ns=2 status=32512 utime_us=0 stime_us=0 maxrss_kb=0\n'));
    assert.equal(d.verdict, 'RUNTIME_ERROR');
    assert.equal(d.message, 'command gcc: not found');
    const cwd = decideVerdict(facts('started mono_ns=1\nexec_failed errno=2 what=cwd path=/nope dir\n'));
    assert.equal(cwd.message, 'working directory /nope dir: not found');
  });

  test('setup failures and a silent launcher are INTERNAL_ERROR', () => {
    const setup = decideVerdict(facts('setup_failed stage=init errno=13 msg=bind /x: Permission denied\n'));
    assert.equal(setup.verdict, 'INTERNAL_ERROR');
    assert.match(setup.message ?? '', /init.*bind \/x: Permission denied/);
    const silent = decideVerdict(facts('', { launcherExit: { code: null, signal: 'SIGSEGV' } }));
    assert.equal(silent.verdict, 'INTERNAL_ERROR');
    assert.match(silent.message ?? '', /SIGSEGV/);
  });
});

describe('parseReport', () => {
  test('reads every line kind; the first setup failure is kept', () => {
    const r = parseReport(`${exitedOk}setup_failed stage=a errno=1 msg=first one\nsetup_failed stage=b errno=2 msg=second\nwarning x\n`);
    assert.equal(r.startedNs, 100n);
    assert.deepEqual(r.exited, { atNs: 200n, status: 0, utimeUs: 1, stimeUs: 2, maxRssKb: 3 });
    assert.deepEqual(r.disk, { usedBytes: 4096, freeBytes: 100, inodesUsed: 3, inodesFree: 10 });
    assert.deepEqual(r.setupFailed, { stage: 'a', errno: 1, message: 'first one' });
    assert.deepEqual(r.warnings, ['warning x']);
  });
});
