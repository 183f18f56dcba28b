// v1 freezer controller: stop every task of the job at once, so the pid list read for the
// kill cannot change under us (no forks, no exits) while we signal it.

import { join } from 'node:path';
import { readText, writeText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { type CgroupTiming, pollUntil } from '../timing.ts';

export function freezerState(fs: CgroupFs, dir: string): string {
  return readText(fs, join(dir, 'freezer.state')).trim();
}

/**
 * Ask for FROZEN and wait until the kernel reports it. Returns false when the cgroup stays
 * FREEZING past the timeout (a task in uninterruptible sleep): the caller kills anyway.
 */
export async function freeze(fs: CgroupFs, dir: string, timing: CgroupTiming): Promise<boolean> {
  writeText(fs, join(dir, 'freezer.state'), 'FROZEN');
  return pollUntil(timing, timing.now() + timing.freezeTimeoutMs, () => freezerState(fs, dir) === 'FROZEN');
}

/** Frozen tasks cannot act on SIGKILL until thawed, so the kill always ends with a thaw. */
export function thaw(fs: CgroupFs, dir: string): void {
  writeText(fs, join(dir, 'freezer.state'), 'THAWED');
}
