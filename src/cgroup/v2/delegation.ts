// Getting a cgroup v2 subtree we may put limits in, done the way the kernel docs describe:
//
//   X                  the worker's own cgroup (the 0:: line of /proc/self/cgroup)
//   X/cellblock-worker a leaf holding the processes that were in X (the worker among them)
//   X/cellblock        our parent; each job is X/cellblock/<name>
//
// Controllers reach a cgroup only if its parent lists them in cgroup.subtree_control, and
// a non-root cgroup that has processes of its own may not enable domain controllers there
// ("no internal process" rule). So before writing +memory... to X's subtree_control we move
// X's processes into the leaf. X's subtree_control is the one file we write in a cgroup we
// did not create: that is what delegating X to us means.

import { basename, dirname, join, posix } from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../../errors.ts';
import { readProcs, readText } from '../files.ts';
import type { CgroupFs } from '../fs.ts';
import { ensureCgroupDir } from '../parent-dir.ts';

const REQUIRED = ['memory', 'cpu', 'pids'] as const;
/** Stats only; a host that does not delegate io still runs jobs. */
const OPTIONAL = ['io'] as const;
/** A process can fork between our move and our write (then EBUSY): try a few times. */
const ENABLE_ATTEMPTS = 5;

export interface V2Layout {
  /** The worker's own cgroup X. */
  ownDir: string;
  /** X/<parentName>-worker, where X's processes were moved (null: none needed moving). */
  leafDir: string | null;
  /** X/<parentName>. */
  parentDir: string;
  /** Controllers enabled for jobs. */
  controllers: string[];
}

export function workerLeafName(parentName: string): string {
  return `${parentName}-worker`;
}

function listFile(fs: CgroupFs, path: string): string[] {
  return readText(fs, path).trim().split(/\s+/).filter((c) => c !== '');
}

/**
 * Moves every process of `ownDir` into the leaf. ESRCH (exited meanwhile) is fine;
 * anything else means the move is not allowed here and is reported.
 */
function moveProcessesToLeaf(fs: CgroupFs, ownDir: string, leafDir: string): void {
  for (const pid of readProcs(fs, join(ownDir, 'cgroup.procs'))) {
    try {
      fs.writeFile(join(leafDir, 'cgroup.procs'), String(pid));
    } catch (err) {
      if (errnoCode(err) === 'ESRCH') continue;
      throw new CellblockError(
        'CGROUP_UNAVAILABLE',
        `cannot move pid ${pid} from ${ownDir} into ${leafDir}: ${errorMessage(err)}; the worker needs write access to both cgroup.procs files`,
        { cause: err },
      );
    }
  }
}

/** Write "+a +b" to `dir`/cgroup.subtree_control for those of `wanted` not yet enabled. */
function enableControllers(fs: CgroupFs, dir: string, wanted: readonly string[]): void {
  const path = join(dir, 'cgroup.subtree_control');
  const enabled = new Set(listFile(fs, path));
  const missing = wanted.filter((c) => !enabled.has(c));
  if (missing.length > 0) fs.writeFile(path, missing.map((c) => `+${c}`).join(' '));
}

export function prepareV2(opts: { fs: CgroupFs; fsRoot: string; ownPath: string; parentName: string }): V2Layout {
  const { fs, parentName } = opts;
  let ownPath = posix.normalize(opts.ownPath);
  // A worker restarted inside the leaf a previous start moved it into: X is the leaf's parent.
  if (basename(ownPath) === workerLeafName(parentName)) ownPath = dirname(ownPath);
  const ownDir = join(opts.fsRoot, ownPath);
  if (!fs.exists(join(ownDir, 'cgroup.controllers'))) {
    throw new CellblockError(
      'CGROUP_UNAVAILABLE',
      `the worker's own cgroup ${ownDir} (from /proc/self/cgroup) is not there: is the cgroup filesystem mounted from another cgroup namespace?`,
    );
  }

  const available = new Set(listFile(fs, join(ownDir, 'cgroup.controllers')));
  const absent = REQUIRED.filter((c) => !available.has(c));
  if (absent.length > 0) {
    throw new CellblockError(
      'CGROUP_UNAVAILABLE',
      `cgroup v2 controllers ${absent.join(', ')} are not delegated to the worker's cgroup ${ownDir} ` +
        `(it has: ${[...available].join(' ') || 'none'}); run the worker as a systemd unit with Delegate=yes, ` +
        `or enable them in the parent's cgroup.subtree_control`,
    );
  }
  const controllers = [...REQUIRED, ...OPTIONAL.filter((c) => available.has(c))];

  // Only the real root has no cgroup.type; it is exempt from the no-internal-process rule
  // (and its kernel threads cannot be moved). A cgroup namespace root is not exempt.
  const isRealRoot = !fs.exists(join(ownDir, 'cgroup.type'));
  const leafDir = join(ownDir, workerLeafName(parentName));
  let movedAny = false;
  for (let attempt = 1; ; attempt++) {
    if (!isRealRoot && readProcs(fs, join(ownDir, 'cgroup.procs')).length > 0) {
      ensureCgroupDir(fs, leafDir, ownDir);
      moveProcessesToLeaf(fs, ownDir, leafDir);
      movedAny = true;
    }
    try {
      enableControllers(fs, ownDir, controllers);
      break;
    } catch (err) {
      if (errnoCode(err) === 'EBUSY' && attempt < ENABLE_ATTEMPTS) continue;
      throw new CellblockError(
        'CGROUP_UNAVAILABLE',
        `cannot enable ${controllers.join(' ')} in ${join(ownDir, 'cgroup.subtree_control')}: ${errorMessage(err)}` +
          (errnoCode(err) === 'EBUSY' ? '; processes keep appearing in that cgroup: start the worker in a cgroup of its own' : ''),
        { cause: err },
      );
    }
  }

  const parentDir = join(ownDir, parentName);
  ensureCgroupDir(fs, parentDir, ownDir);
  try {
    // Nothing ever runs in the parent itself, so this cannot meet the internal-process rule.
    enableControllers(fs, parentDir, controllers);
  } catch (err) {
    throw new CellblockError(
      'CGROUP_UNAVAILABLE',
      `cannot enable ${controllers.join(' ')} in ${join(parentDir, 'cgroup.subtree_control')}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return { ownDir, leafDir: movedAny || fs.exists(leafDir) ? leafDir : null, parentDir, controllers };
}
