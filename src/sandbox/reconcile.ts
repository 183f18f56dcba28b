// At start-up, remove what a crashed worker left: job directories whose owner
// process is gone, their cgroups (killing anything still inside), cgroups with
// no job directory at all, and uid range claims. Live workers' sandboxes are
// recognised by their owner record and left alone.
import fs from 'node:fs';
import path from 'node:path';
import type { CgroupDriver } from '../cgroup/index.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { OWNER_FILE } from './job-dir.ts';
import { isAlive, readOwner } from './owner.ts';
import type { ReconcileReport } from './runner-api.ts';
import type { UidRanges } from './uid-ranges.ts';

/** A job dir without an owner record younger than this may be mid-creation. */
const GRACE_MS = 60_000;

export interface ReconcileParts {
  cgroups: CgroupDriver;
  jobsRoot: string;
  uids: UidRanges;
  log: Logger;
}

function isLeftover(jobDir: string): boolean {
  const owner = readOwner(path.join(jobDir, OWNER_FILE));
  if (owner) return !isAlive(owner);
  try {
    return Date.now() - fs.statSync(jobDir).mtimeMs > GRACE_MS;
  } catch {
    return false; // gone meanwhile
  }
}

export async function reconcile(p: ReconcileParts): Promise<ReconcileReport> {
  const report: ReconcileReport = { cgroupsRemoved: 0, jobDirsRemoved: 0, processesKilled: 0 };
  const removeCgroup = async (name: string): Promise<void> => {
    try {
      const cg = p.cgroups.open(name);
      report.processesKilled += cg.pids().length;
      await cg.remove();
      report.cgroupsRemoved++;
    } catch (err) {
      p.log.error({ cgroup: name, err: errorMessage(err) }, 'reconcile: could not remove a leftover cgroup');
    }
  };

  const cgroupNames = new Set(p.cgroups.list());
  const jobIds = fs.existsSync(p.jobsRoot) ? fs.readdirSync(p.jobsRoot) : [];
  for (const id of jobIds) {
    const dir = path.join(p.jobsRoot, id);
    if (!isLeftover(dir)) continue;
    if (cgroupNames.delete(id)) await removeCgroup(id);
    fs.rmSync(dir, { recursive: true, force: true });
    report.jobDirsRemoved++;
  }
  // A job dir is made before its cgroup and removed after it: a cgroup without
  // one is always a leftover.
  for (const name of cgroupNames) {
    if (!fs.existsSync(path.join(p.jobsRoot, name))) await removeCgroup(name);
  }
  const rangesReclaimed = p.uids.reclaimDead();
  if (report.cgroupsRemoved + report.jobDirsRemoved + report.processesKilled + rangesReclaimed > 0) {
    p.log.warn({ ...report, rangesReclaimed }, 'reconcile removed leftovers of a previous worker');
  }
  return report;
}
