// Killing everything in a v2 cgroup subtree: cgroup.kill (5.14+) does it atomically in the
// kernel, forks included; before that, freeze (5.2+), SIGKILL each listed pid, thaw.

import { join } from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../../errors.ts';
import { parseFlatKeyed, writeText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { type CgroupTiming, pollUntil } from '../timing.ts';
import { collectPids, killPids, runAll } from '../tree.ts';

function readEvents(fs: CgroupFs, dir: string): Map<string, number> | undefined {
  const path = join(dir, 'cgroup.events');
  try {
    return parseFlatKeyed(fs.readFile(path));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new CellblockError('CGROUP_FAILED', `failed to read ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Any live process in the cgroup or below it (cgroup.events "populated" is recursive). */
export function isPopulated(fs: CgroupFs, dir: string): boolean {
  const events = readEvents(fs, dir);
  if (events === undefined) return false; // the cgroup is gone
  const populated = events.get('populated');
  return populated === undefined ? collectPids(fs, dir).size > 0 : populated !== 0;
}

export function hasCgroupKill(fs: CgroupFs, dir: string): boolean {
  return fs.exists(join(dir, 'cgroup.kill'));
}

/** SIGKILL the whole subtree in one kernel operation. */
export function writeCgroupKill(fs: CgroupFs, dir: string): void {
  writeText(fs, join(dir, 'cgroup.kill'), '1');
}

/**
 * Fallback for kernels without cgroup.kill. While frozen nothing forks or exits, so the
 * listed pids are all there is and none can be reused before the signal. A frozen process
 * still dies of SIGKILL on v2; the thaw is for what follows (a reused or inspected cgroup).
 */
export async function freezeKillThaw(fs: CgroupFs, dir: string, timing: CgroupTiming): Promise<void> {
  const freezeFile = join(dir, 'cgroup.freeze');
  const canFreeze = fs.exists(freezeFile); // 5.2+
  if (canFreeze) {
    writeText(fs, freezeFile, '1');
    // Kill anyway if it stays unfrozen (a task in uninterruptible sleep): best effort.
    await pollUntil(timing, timing.now() + timing.freezeTimeoutMs, () => readEvents(fs, dir)?.get('frozen') === 1);
  }
  await runAll(`failed to kill ${dir}`, [
    () => killPids(fs, collectPids(fs, dir)),
    () => {
      if (canFreeze) writeText(fs, freezeFile, '0');
    },
  ]);
}
