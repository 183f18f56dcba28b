// Job cgroup names become directory names next to kernel interface files, so only plain
// names are allowed: no path separators, no "..", and no dots at all (every interface file
// has a dot, e.g. "memory.max"; a job named like one would collide with it).

import { CellblockError } from '../errors.ts';

const NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** v1 interface files without a dot. */
const RESERVED = new Set(['tasks', 'notify_on_release', 'release_agent']);

export function assertCgroupName(name: string, what = 'job cgroup name'): void {
  if (!NAME.test(name) || RESERVED.has(name)) {
    throw new CellblockError(
      'CGROUP_FAILED',
      `invalid ${what} "${name}": use 1-128 characters from A-Z a-z 0-9 _ - (and not tasks, notify_on_release, release_agent)`,
    );
  }
}
