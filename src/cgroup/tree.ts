// Operations on a job cgroup and whatever the job created below it (a job with its own
// cgroup namespace may make child cgroups): list every pid, signal them, remove bottom-up.

import { join } from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import { readProcs } from './files.ts';
import type { CgroupFs } from './fs.ts';
import { type CgroupTiming, pollUntil } from './timing.ts';

function childDirs(fs: CgroupFs, dir: string): string[] {
  try {
    return fs.listDirs(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw new CellblockError('CGROUP_FAILED', `failed to list ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

/** pids in `dir` and all its descendants; [] when it does not exist. */
export function collectPids(fs: CgroupFs, dir: string, into: Set<number> = new Set()): Set<number> {
  for (const pid of readProcs(fs, join(dir, 'cgroup.procs'))) into.add(pid);
  for (const child of childDirs(fs, dir)) collectPids(fs, join(dir, child), into);
  return into;
}

/** SIGKILL each pid; one that is already gone (ESRCH) is what we wanted. */
export function killPids(fs: CgroupFs, pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      fs.kill(pid, 'SIGKILL');
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') {
        throw new CellblockError('CGROUP_FAILED', `failed to SIGKILL pid ${pid}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }
}

/**
 * rmdir `dir` after its descendants, deepest first. A missing dir is fine (idempotent);
 * EBUSY is retried briefly because the kernel releases exiting tasks asynchronously.
 */
export async function removeTree(fs: CgroupFs, dir: string, timing: CgroupTiming): Promise<void> {
  for (const child of childDirs(fs, dir)) await removeTree(fs, join(dir, child), timing);
  const deadline = timing.now() + timing.rmdirTimeoutMs;
  let lastError: unknown;
  const removed = await pollUntil(timing, deadline, async () => {
    try {
      await fs.removeDir(dir);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      if (errnoCode(err) !== 'EBUSY') throw new CellblockError('CGROUP_FAILED', `failed to rmdir ${dir}: ${errorMessage(err)}`, { cause: err });
      lastError = err;
      return false;
    }
  });
  if (!removed) {
    throw new CellblockError(
      'CGROUP_FAILED',
      `failed to rmdir ${dir}: still busy after ${timing.rmdirTimeoutMs} ms (${errorMessage(lastError)})`,
      { cause: lastError },
    );
  }
}

/**
 * The usual end of a job cgroup: its sandbox left it empty and made no child
 * cgroups, so one rmdir per directory does it. Returns false when that is not
 * so (the kernel refused: processes or children left, or anything else), for
 * the caller to take the long way (kill, remove bottom-up, report errors).
 */
export async function removeIfEmpty(fs: CgroupFs, dirs: readonly string[]): Promise<boolean> {
  const removed = await Promise.all(
    dirs.map((dir) =>
      fs.removeDir(dir).then(
        () => true,
        (err: unknown) => errnoCode(err) === 'ENOENT',
      ),
    ),
  );
  return removed.every(Boolean);
}

/** Run every step even when one fails; throw one error that reports each failure. */
export async function runAll(what: string, steps: (() => Promise<void> | void)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new CellblockError('CGROUP_FAILED', `${what}: ${failures.map(errorMessage).join('; ')}`, {
      cause: new AggregateError(failures),
    });
  }
}
