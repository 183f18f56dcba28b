// Shared by the adversarial suite (test/security/*.test.ts): one runner per
// file, a `run` helper, and the host checks every case ends with. Each case is
// a real program run through cellblock; afterwards nothing may be left (no
// process, mount, cgroup, job dir or uid claim: assertNoLeaks) and the host must
// be as it was (assertHostUnchanged: the launcher binary, a canary tree a job
// would love to reach, the host's hostname and namespace limits).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before } from 'node:test';
import type { JobSpecInput } from '../../src/job/spec.ts';
import type { JobResult } from '../../src/job/result.ts';
import { DEFAULT_LAUNCHER, type Runner } from '../../src/sandbox/runner.ts';
import { assertNoLeaks } from '../helpers/leaks.ts';
import { jobId, SCOPE, spec, testRunner } from '../helpers/sandbox.ts';

export const MiB = 1024 * 1024;
export const ROOT = { user: { uid: 0, gid: 0 } } as const;

/** A directory on the host with a file, a symlink and a hardlink: what a job must never touch. */
export const CANARY_DIR = path.join(os.tmpdir(), `cellblock-canary-${process.pid}`);
const CANARY_FILE = path.join(CANARY_DIR, 'secret');

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '(absent)';
  }
}

/** What a successful escape would most likely change. */
export function hostFingerprint(): Record<string, string> {
  const canary = fs.existsSync(CANARY_DIR)
    ? fs.readdirSync(CANARY_DIR).sort().map((n) => {
        const st = fs.lstatSync(path.join(CANARY_DIR, n));
        return `${n}:${st.mode}:${st.uid}:${st.nlink}:${st.isFile() ? sha256(path.join(CANARY_DIR, n)) : ''}`;
      }).join(',')
    : '(gone)';
  return {
    launcher: sha256(DEFAULT_LAUNCHER),
    hostname: os.hostname(),
    canary,
    maxUserNamespaces: readOr('/proc/sys/user/max_user_namespaces'),
    maxMntNamespaces: readOr('/proc/sys/user/max_mnt_namespaces'),
    sysrq: readOr('/proc/sys/kernel/sysrq'),
    modulesDisabled: readOr('/proc/sys/kernel/modules_disabled'),
    cadPid: readOr('/proc/sys/kernel/cad_pid'),
  };
}

/** Wires a file's hooks: runner up before, and after every case no leak and an unchanged host. */
export function useSandboxes(): { runner: () => Runner } {
  let runner: Runner | undefined;
  let before0: Record<string, string> = {};
  before(async () => {
    fs.mkdirSync(CANARY_DIR, { recursive: true, mode: 0o755 });
    fs.writeFileSync(CANARY_FILE, 'the host secret\n', { mode: 0o644 });
    if (!fs.existsSync(`${CANARY_FILE}.link`)) fs.symlinkSync(CANARY_FILE, `${CANARY_FILE}.link`);
    if (!fs.existsSync(`${CANARY_FILE}.hard`)) fs.linkSync(CANARY_FILE, `${CANARY_FILE}.hard`);
    runner = await testRunner();
    await runner.reconcile();
    before0 = hostFingerprint();
  });
  afterEach(async () => {
    await assertNoLeaks(SCOPE);
    assert.deepEqual(hostFingerprint(), before0, 'the host changed');
  });
  after(async () => {
    await runner?.close();
    fs.rmSync(CANARY_DIR, { recursive: true, force: true });
  });
  return {
    runner: () => {
      assert.ok(runner, 'runner not ready');
      return runner;
    },
  };
}

export type Extra = Partial<JobSpecInput>;

/** Run one command in a fresh sandbox of the test image. */
export async function runIn(runner: Runner, cmd: string[], extra: Extra = {}): Promise<JobResult> {
  return runner.run(spec({ ...extra, cmd }), { jobId: jobId(cmd[1] ?? cmd[0] ?? 'x') });
}

/** `verb: <strerror>` lines printed by cbfix for a refused call. */
export const REFUSED = /: (Operation not permitted|Permission denied|Function not implemented|No space left on device|Read-only file system|Address family not supported by protocol|Text file busy)$/m;
