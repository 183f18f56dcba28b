// After every test that makes sandboxes: nothing may be left on the host. No job
// cgroups, no job directories, no uid claims, no mounts (but the state dir's run/
// tmpfs), no processes running under a job's host ids, no launcher processes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { detectCgroupDriver } from '../../src/cgroup/index.ts';
import { jobsDirIn, runDirIn, uidsDirIn } from '../../src/sandbox/run-dir.ts';

export interface LeakScope {
  stateDir: string;
  /** The runner's cgroup parent: only job cgroups below it are this scope's. */
  cgroupParent: string;
  uidBase: number;
  uidRanges: number;
}

function processesMatching(pred: (pid: number, status: string, exe: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    let status = '';
    let exe = '';
    try {
      status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // gone, or a kernel thread
    }
    if (status !== '' && pred(pid, status, exe)) found.push(`${pid} ${/^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?'}`);
  }
  return found;
}

export function leftovers(scope: LeakScope): string[] {
  const problems: string[] = [];
  const cgroups = detectCgroupDriver({ parentName: scope.cgroupParent }).list();
  if (cgroups.length > 0) problems.push(`job cgroups: ${cgroups.join(', ')}`);
  for (const dir of [jobsDirIn(scope.stateDir), uidsDirIn(scope.stateDir)]) {
    const entries = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    if (entries.length > 0) problems.push(`${path.relative(scope.stateDir, dir)}/: ${entries.join(', ')}`);
  }
  // The run/ tmpfs itself stays, as /run does; nothing may be mounted in it or elsewhere below the
  // state dir (a path below it, not merely starting with the same characters: another scope's).
  const runDir = runDirIn(scope.stateDir);
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => {
    const at = l.split(' ')[4] ?? '';
    return (at === scope.stateDir || at.startsWith(`${scope.stateDir}/`)) && at !== runDir;
  });
  if (mounts.length > 0) problems.push(`mounts: ${mounts.join(' | ')}`);
  const hi = scope.uidBase + scope.uidRanges * 65536;
  // Everything a sandbox runs has a host uid in the scope's ranges; a supervisor
  // (host root) is ours when our launcher server forked it. The server itself
  // lives as long as its runner (tests that close one check it is gone).
  const launcherParents = new Map<number, number>();
  processesMatching((pid, status, exe) => {
    if (exe.endsWith('/cellblock-launcher')) launcherParents.set(pid, Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? -1));
    return false;
  });
  const ours = (pid: number): boolean => {
    for (let p = pid, hops = 0; hops < 4; hops++) {
      const parent = launcherParents.get(p);
      if (parent === undefined) return false;
      if (parent === process.pid) return hops > 0;
      p = parent;
    }
    return false;
  };
  const procs = processesMatching((pid, status) => {
    // A zombie runs nothing and holds nothing but its pid: one whose parent died
    // (say, a launcher server killed by a test) waits for the host's init to reap it.
    if (/^State:\s*Z/m.test(status)) return false;
    const uid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1] ?? -1);
    return (uid >= scope.uidBase && uid < hi) || ours(pid);
  });
  if (procs.length > 0) problems.push(`processes: ${procs.join(', ')}`);
  return problems;
}

/** Fails the test if anything is left (after giving a just-finished teardown a moment). */
export async function assertNoLeaks(scope: LeakScope): Promise<void> {
  let problems = leftovers(scope);
  for (let i = 0; i < 20 && problems.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    problems = leftovers(scope);
  }
  assert.deepEqual(problems, [], `leaked: ${problems.join('; ')}`);
}
