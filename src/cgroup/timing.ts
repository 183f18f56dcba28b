// How long kill-all and remove wait for the kernel, with the clock injected so tests decide.

import { setTimeout as sleepMs } from 'node:timers/promises';

export interface CgroupTiming {
  /** killAll gives up (with an error naming the survivors) after this long. */
  killTimeoutMs: number;
  /** How long one freeze may stay in FREEZING before the kill goes ahead anyway. */
  freezeTimeoutMs: number;
  /** rmdir is retried on EBUSY (exiting tasks not yet released) for this long. */
  rmdirTimeoutMs: number;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const defaultTiming: CgroupTiming = {
  killTimeoutMs: 5_000,
  freezeTimeoutMs: 1_000,
  rmdirTimeoutMs: 1_000,
  now: () => performance.now(),
  sleep: async (ms) => {
    await sleepMs(ms);
  },
};

export function resolveTiming(partial: Partial<CgroupTiming> | undefined): CgroupTiming {
  return { ...defaultTiming, ...partial };
}

/**
 * Poll `done` with short, growing sleeps (1 ms up to 20 ms: the kernel usually finishes in
 * well under a millisecond, so the first checks are cheap) until it holds or `deadline`
 * (a timing.now() value) passes. Returns whether it held.
 */
export async function pollUntil(timing: CgroupTiming, deadline: number, done: () => boolean | Promise<boolean>): Promise<boolean> {
  let delay = 1;
  for (;;) {
    if (await done()) return true;
    if (timing.now() >= deadline) return false;
    await timing.sleep(delay);
    delay = Math.min(delay * 2, 20);
  }
}
