// Shared set-up for tests that run real sandboxes: a test state directory, the
// busybox image plus `cbfix` (test/fixtures/cbfix.c, one verb per behaviour) as
// the image `cbtest`, and a runner whose id ranges the leak check knows.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../../src/image/store.ts';
import { buildRecipe } from '../../src/image/recipes.ts';
import { parseJobSpec, type JobSpec, type JobSpecInput } from '../../src/job/spec.ts';
import { silentLogger } from '../../src/log.ts';
import { createRunner, type Runner } from '../../src/sandbox/runner.ts';
import type { LeakScope } from './leaks.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_STATE_DIR = process.env.CELLBLOCK_TEST_STATE_DIR ?? '/var/lib/cellblock-test';
export const TEST_IMAGE = 'cbtest';
// Its own cgroup parent and uid ranges: a worker running on the same host is not
// mistaken for a leak, and the tests never touch its sandboxes. Two test runs on
// one host at once each need their own (CELLBLOCK_TEST_* variables).
export const SCOPE: LeakScope = {
  stateDir: TEST_STATE_DIR,
  cgroupParent: process.env.CELLBLOCK_TEST_CGROUP_PARENT ?? 'cellblock-test',
  uidBase: Number(process.env.CELLBLOCK_TEST_UID_BASE ?? 0x50000000),
  uidRanges: 64,
};

function newer(a: string, b: string): boolean {
  return !fs.existsSync(b) || fs.statSync(a).mtimeMs > fs.statSync(b).mtimeMs;
}

/** The static fixture binary, rebuilt when its source changed. */
export function fixtureBinary(): string {
  const src = path.join(REPO, 'test/fixtures/cbfix.c');
  const out = path.join(REPO, 'native/build/test/cbfix');
  if (newer(src, out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, src], { stdio: 'inherit' });
  }
  return out;
}

/**
 * Factor for upper bounds on time in tests: 1 on real hardware; test/v2/run-in-qemu.mjs sets
 * more under software emulation (TCG), where every instruction of the sandbox's own setup,
 * charged to the job's cgroup, is many times slower.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.CELLBLOCK_TEST_TIME_SCALE ?? 1) || 1);

let prepared: Promise<void> | undefined;

/** busybox (built from its recipe, cached) + cbfix, imported as `cbtest`. */
export function prepareTestImage(): Promise<void> {
  prepared ??= (async () => {
    const store = new ImageStore(path.join(TEST_STATE_DIR, 'images'), silentLogger);
    await buildRecipe('busybox', { store, log: silentLogger });
    const busyboxTar = path.join(REPO, 'images/build/busybox.tar');
    const fixture = fixtureBinary();
    const tar = path.join(REPO, 'native/build/test/cbtest.tar');
    if (newer(busyboxTar, tar) || newer(fixture, tar)) {
      const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'cbtest-'));
      try {
        fs.mkdirSync(path.join(stage, 'usr/local/bin'), { recursive: true });
        fs.copyFileSync(fixture, path.join(stage, 'usr/local/bin/cbfix'));
        fs.copyFileSync(busyboxTar, `${tar}.tmp`);
        execFileSync('tar', ['--append', '-f', `${tar}.tmp`, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', stage, 'usr/local/bin/cbfix']);
        fs.renameSync(`${tar}.tmp`, tar);
      } finally {
        fs.rmSync(stage, { recursive: true, force: true });
      }
    }
    await store.importTarball(tar, TEST_IMAGE);
  })();
  return prepared;
}

export async function testRunner(): Promise<Runner> {
  await prepareTestImage();
  // Nothing prepared ahead: the runner outlives tests that each check nothing is left.
  return createRunner({ stateDir: TEST_STATE_DIR, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, workerId: 'test', prepared: 0 });
}

/** Environment for a `cellblock` process (worker, run) that works in the tests' sandbox scope. */
export function scopeEnv(): Record<string, string> {
  return {
    CELLBLOCK_STATE_DIR: TEST_STATE_DIR,
    CELLBLOCK_UID_BASE: String(SCOPE.uidBase),
    CELLBLOCK_UID_RANGES: String(SCOPE.uidRanges),
    CELLBLOCK_CGROUP_PARENT: SCOPE.cgroupParent,
    CELLBLOCK_LOG_LEVEL: 'silent',
  };
}

let seq = 0;
export function jobId(label: string): string {
  return `t-${label}-${process.pid}-${++seq}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
}

export function spec(input: Partial<JobSpecInput> & { cmd: string[] }): JobSpec {
  return parseJobSpec({ image: TEST_IMAGE, ...input });
}
