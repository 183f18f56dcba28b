// Creating a directory in a cgroup hierarchy that cellblock owns (the `cellblock` parent,
// the v2 worker leaf). Failing here means the host is not set up for us, so the error says
// what to fix rather than just the errno.

import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import type { CgroupFs } from './fs.ts';

export function ensureCgroupDir(fs: CgroupFs, dir: string, ownDir: string): void {
  try {
    fs.mkdir(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return;
    const fix =
      code === 'ENOENT'
        ? `the worker's own cgroup ${ownDir} (from /proc/self/cgroup) is not there: is the cgroup filesystem mounted from another cgroup namespace?`
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? `run the worker as root (or delegate ${ownDir} to its user) with the cgroup filesystem mounted read-write`
          : 'check the cgroup filesystem';
    throw new CellblockError('CGROUP_UNAVAILABLE', `cannot create cgroup ${dir}: ${errorMessage(err)}; ${fix}`, {
      cause: err,
    });
  }
}
