// The per-sandbox directory on the host: <stateDir>/run/jobs/<sandbox id>/ with an owner
// record (for reconcile), the image it runs (for image GC), the job's files as an extra
// read-only lower layer, and the empty mount points the launcher mounts on inside its
// own mount namespace. Only cellblock writes here; the job's writes go to its tmpfs
// upper layer. Its layout is known, so it is removed entry by entry, not walked.
import fs from 'node:fs';
import path from 'node:path';
import type { JobSpec } from '../job/spec.ts';
import { errnoCode } from '../errors.ts';
import { writeOwner, type Owner } from './owner.ts';
import type { UidRange } from './uid-ranges.ts';

export const OWNER_FILE = 'owner';
/** The digest of the image the job runs: the image store keeps it while the job lives. */
export const IMAGE_FILE = 'image';
const FILES_LAYER = 'files';
/** Made by the launcher (native/src/mounts.c), empty again once its mount namespace is gone. */
const MOUNT_POINTS = ['lower', 'rw', 'merged'];

/** What stageFiles needs: the job's files, and its cwd and user as resolved against the image. */
export type StagedSpec = Pick<JobSpec, 'files'> & { cwd: string; user: { uid: number; gid: number } };

export class JobDir {
  private constructor(readonly path: string) {}

  /**
   * Records the image digest (a record, see owner.ts), so `image rm` and GC leave it
   * alone while the job lives. On the job's path: one symlink(2) in a tmpfs, made here
   * rather than through the thread pool.
   */
  recordImage(digest: string): void {
    fs.symlinkSync(digest, path.join(this.path, IMAGE_FILE));
  }

  /**
   * Lay out the job's files (and its working directory, unless the image has it)
   * as an overlay layer owned by the job's ids. Returns the layer's path, or
   * undefined when the job needs none.
   */
  stageFiles(spec: StagedSpec, range: UidRange, rootfs: string): string | undefined {
    const cwdInImage = isDirectory(path.join(rootfs, spec.cwd));
    if (spec.files.length === 0 && cwdInImage) return undefined;
    const layer = path.join(this.path, FILES_LAYER);
    const userUid = range.base + spec.user.uid;
    const userGid = range.base + spec.user.gid;
    const made = new Set<string>();
    // Directories at or below cwd belong to the job's user; others to container root.
    const ensureDir = (inside: string): void => {
      if (inside === '/' || made.has(inside)) return;
      ensureDir(path.posix.dirname(inside));
      const host = path.join(layer, inside);
      fs.mkdirSync(host, { mode: 0o755 });
      const mine = inside === spec.cwd || inside.startsWith(spec.cwd === '/' ? '/' : `${spec.cwd}/`);
      fs.chownSync(host, mine ? userUid : range.base, mine ? userGid : range.base);
      made.add(inside);
    };
    fs.mkdirSync(layer, { mode: 0o755 });
    fs.chownSync(layer, range.base, range.base);
    if (!cwdInImage) ensureDir(spec.cwd);
    for (const f of spec.files) {
      const inside = path.posix.resolve(spec.cwd, f.path);
      ensureDir(path.posix.dirname(inside));
      const host = path.join(layer, inside);
      const data = Buffer.from(f.content, f.encoding);
      fs.writeFileSync(host, data, { mode: f.mode, flag: 'wx' });
      fs.chmodSync(host, f.mode); // writeFileSync's mode is filtered by the umask
      fs.chownSync(host, userUid, userGid);
    }
    return layer;
  }

  /**
   * Make the directory (off the event loop); fails if it exists. It belongs to the
   * sandbox's container root, which must reach the mount points in it, and to
   * nobody else on the host.
   */
  static async create(jobsRoot: string, name: string, owner: Owner, range: UidRange): Promise<JobDir> {
    const dir = path.join(jobsRoot, name);
    await fs.promises.mkdir(dir, { mode: 0o700 });
    await writeOwner(path.join(dir, OWNER_FILE), owner);
    await fs.promises.chown(dir, range.base, range.base);
    return new JobDir(dir);
  }

  /**
   * Off the event loop, what it holds, the owner record last, then the directory. Where
   * that fails (a former mount point the kernel has not let go of yet, or anything
   * unexpected in it), the long way: a recursive remove that retries.
   */
  async remove(): Promise<void> {
    const at = (name: string): string => path.join(this.path, name);
    try {
      await Promise.all([
        absent(fs.promises.unlink(at(IMAGE_FILE))),
        absent(fs.promises.rm(at(FILES_LAYER), { recursive: true, force: true })),
        ...MOUNT_POINTS.map((name) => absent(fs.promises.rmdir(at(name)))),
      ]);
      await absent(fs.promises.unlink(at(OWNER_FILE)));
      await absent(fs.promises.rmdir(this.path));
    } catch {
      await fs.promises.rm(this.path, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Settles once `op` has removed its entry or found it gone already (ENOENT). */
async function absent(op: Promise<void>): Promise<void> {
  try {
    await op;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
