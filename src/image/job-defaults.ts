// What a job runs with when it leaves something out: its own field, else the
// image config's (WorkingDir, User, Entrypoint/Cmd), else cellblock's defaults.
// A job's cmd replaces the image's Cmd and is appended to its Entrypoint, as
// Docker does. A user given by name is looked up in the image's own /etc/passwd
// and /etc/group, read without following any symlink: the image is untrusted.
import fs from 'node:fs';
import path from 'node:path';
import { CellblockError, errnoCode } from '../errors.ts';
import type { ResolvedImage } from './types.ts';

export const DEFAULT_CWD = '/box';
export const DEFAULT_USER = { uid: 1000, gid: 1000 } as const;
/** The sandbox maps 65536 ids. */
const MAX_ID = 65_535;
const MAX_DB_BYTES = 4 << 20;

export interface JobFields {
  cwd?: string | undefined;
  user?: { uid: number; gid: number } | undefined;
  cmd?: readonly string[] | undefined;
}

export interface ResolvedJob {
  cwd: string;
  user: { uid: number; gid: number };
  argv: string[];
}

export function resolveJobDefaults(job: JobFields, image: ResolvedImage): ResolvedJob {
  const c = image.config;
  const cwd = job.cwd ?? c.workingDir ?? DEFAULT_CWD;
  const user = job.user ?? (c.user !== undefined ? resolveUser(c.user, image) : { ...DEFAULT_USER });
  const argv = [...(c.entrypoint ?? []), ...(job.cmd ?? c.cmd ?? [])];
  if (argv.length === 0 || argv[0] === '') {
    throw new CellblockError('INVALID_JOB', `invalid job spec: cmd: the job has no cmd and the image ${image.name} has no Entrypoint or Cmd to run`);
  }
  return { cwd, user, argv };
}

/** "uid[:gid]" or names, as an image's User says; names come from its /etc/passwd and /etc/group. */
export function resolveUser(spec: string, image: ResolvedImage): { uid: number; gid: number } {
  const [userPart = '', groupPart] = spec.split(':');
  const numeric = (s: string): number | undefined => (/^[0-9]+$/.test(s) ? Number(s) : undefined);
  let uid = numeric(userPart);
  let primaryGid: number | undefined;
  if (uid === undefined || groupPart === undefined) {
    const entry = readDb(image, 'etc/passwd').find((f) => (uid === undefined ? f[0] === userPart : f[2] === String(uid)));
    if (entry === undefined && uid === undefined) {
      throw new CellblockError('IMAGE_INVALID', `image ${image.name} runs as user ${JSON.stringify(userPart)}, which its /etc/passwd does not list; give the job a numeric user (uid:gid)`);
    }
    if (entry !== undefined) {
      uid = numeric(entry[2] ?? '');
      primaryGid = numeric(entry[3] ?? '');
    }
  }
  let gid: number | undefined;
  if (groupPart === undefined) gid = primaryGid ?? uid;
  else {
    gid = numeric(groupPart);
    if (gid === undefined) {
      const entry = readDb(image, 'etc/group').find((f) => f[0] === groupPart);
      if (entry === undefined) throw new CellblockError('IMAGE_INVALID', `image ${image.name} runs as group ${JSON.stringify(groupPart)}, which its /etc/group does not list; give the job a numeric user (uid:gid)`);
      gid = numeric(entry[2] ?? '');
    }
  }
  if (uid === undefined || gid === undefined || uid > MAX_ID || gid > MAX_ID) {
    throw new CellblockError('IMAGE_INVALID', `image ${image.name}: user ${JSON.stringify(spec)} does not give a uid and gid from 0 to ${MAX_ID}`);
  }
  return { uid, gid };
}

/** The colon-separated lines of a file in the image, read without following symlinks. */
function readDb(image: ResolvedImage, rel: string): string[][] {
  return readFileInRoot(image.rootfs, rel, image.name).split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

/**
 * A small regular file at `rel` below `root`. Every component is checked with
 * lstat and the file opened with O_NOFOLLOW, so a symlink (to the host's
 * /etc/shadow, say) is refused rather than followed. The rootfs is read-only
 * once extracted, so nothing changes between the checks and the open.
 */
export function readFileInRoot(root: string, rel: string, imageName: string): string {
  const parts = rel.split('/');
  let cur = root;
  for (const [i, part] of parts.entries()) {
    cur = path.join(cur, part);
    const st = fs.lstatSync(cur, { throwIfNoEntry: false });
    if (st === undefined) throw new CellblockError('IMAGE_INVALID', `image ${imageName} has no /${rel}, so its User cannot be looked up; give the job a numeric user (uid:gid)`);
    const last = i === parts.length - 1;
    if (st.isSymbolicLink() || (last ? !st.isFile() : !st.isDirectory())) {
      throw new CellblockError('IMAGE_INVALID', `image ${imageName}: /${parts.slice(0, i + 1).join('/')} is not a plain ${last ? 'file' : 'directory'}, so its User cannot be looked up safely; give the job a numeric user (uid:gid)`);
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(cur, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    throw new CellblockError('IMAGE_INVALID', `image ${imageName}: cannot open /${rel} (${errnoCode(err) ?? 'error'})`, { cause: err });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_DB_BYTES) throw new CellblockError('IMAGE_INVALID', `image ${imageName}: /${rel} is not a small regular file`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
