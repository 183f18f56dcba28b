// Decides, entry by entry and in archive order, what of an untrusted tarball may
// be written. tar's own path protections are off during extraction (they strip
// "/" from symlink targets and refuse symlinks that resolve through /lib ->
// usr/lib, which breaks every Debian rootfs), so this is the whole defence:
// no absolute paths, no "..", and nothing written or hard-linked through a
// symlink the archive made. Symlink targets themselves are data, never followed.
// One guard follows all the layers of an image in order, so a symlink made by a
// lower layer is as much a barrier as one made by the layer being extracted.

/** The fields of a tar entry the guard looks at (a subset of tar's ReadEntry). */
export interface EntryHeader {
  type: string;
  path: string;
  linkpath?: string | undefined;
  mode?: number | undefined;
  mtime?: Date | undefined;
  size: number;
}

const WRITABLE = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir', 'SymbolicLink', 'Link']);
// Jobs get /dev from the sandbox, so an image's device nodes and fifos are dropped.
const SKIPPED = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);
const FILE = new Set(['File', 'OldFile', 'ContiguousFile']);
const DIRECTORY = new Set(['Directory', 'GNUDumpDir']);

export class EntryGuard {
  /** The first reason to refuse the archive; once set, nothing more is admitted. */
  violation: string | undefined;
  entries = 0;
  skipped = 0;
  fileBytes = 0;
  private readonly symlinks = new Set<string>();
  /** Modes tar may not reproduce (umask, setuid cleared by chown, dirs forced u+rwx). */
  private readonly modeFixes = new Map<string, number>();
  /** tar leaves symlink times unset and dir times are bumped by the files written in them. */
  private readonly timeFixes = new Map<string, Date>();

  private readonly allowSetuid: boolean;

  /**
   * `allowSetuid`: keep setuid/setgid bits on files. Off by default: a job never
   * needs them (it runs with no_new_privs), and an image is untrusted content.
   */
  constructor(private readonly umask: number, opts: { allowSetuid?: boolean } = {}) {
    this.allowSetuid = opts.allowSetuid === true;
  }

  /** Why `p` may not be used as a path in the image, or undefined if it may. */
  checkPath(p: string): string | undefined {
    const parts = splitSafe(p);
    if (typeof parts === 'string') return parts;
    const through = this.symlinkPrefix(parts, parts.length - 1);
    return through === undefined ? undefined : `path goes through the symlink ${JSON.stringify(through)}`;
  }

  /** Records a refusal found outside admit() (a bad whiteout); nothing more is admitted. */
  refuse(p: string, why: string): void {
    this.violation ??= `${JSON.stringify(p)}: ${why}`;
  }

  /** `rel` (normalized) and everything below it were removed (a whiteout). */
  forget(rel: string): void {
    const below = `${rel}/`;
    for (const k of this.symlinks) if (k === rel || k.startsWith(below)) this.symlinks.delete(k);
    for (const map of [this.modeFixes, this.timeFixes] as Array<Map<string, unknown>>) {
      for (const k of map.keys()) if (k === rel || k.startsWith(below)) map.delete(k);
    }
  }

  /**
   * The mode to write for a file entry: setuid/setgid dropped unless allowed.
   * Directories keep setgid: there it only makes new files inherit the group.
   */
  effectiveMode(entry: EntryHeader): number | undefined {
    if (entry.mode === undefined || this.allowSetuid || DIRECTORY.has(entry.type)) return entry.mode;
    return entry.mode & ~0o6000;
  }

  /** True if the entry may be extracted. */
  admit(entry: EntryHeader): boolean {
    if (this.violation !== undefined) return false;
    const why = this.check(entry);
    if (why !== undefined) {
      this.violation = `${JSON.stringify(entry.path)}: ${why}`;
      return false;
    }
    if (SKIPPED.has(entry.type)) {
      this.skipped++;
      return false;
    }
    this.entries++;
    const key = normalize(entry.path) ?? '';
    // A later entry (or layer) that replaces a symlink makes the path safe again.
    if (entry.type === 'SymbolicLink') this.symlinks.add(key);
    else this.symlinks.delete(key);
    if (FILE.has(entry.type)) this.fileBytes += entry.size;
    this.recordMode(key, entry);
    if ((DIRECTORY.has(entry.type) || entry.type === 'SymbolicLink') && entry.mtime !== undefined) this.timeFixes.set(key, entry.mtime);
    else this.timeFixes.delete(key);
    return true;
  }

  /** Paths (relative, normalized) whose mode must be set again after extraction. */
  modesToRestore(): ReadonlyMap<string, number> {
    return this.modeFixes;
  }

  /** Directories and symlinks whose mtime must be set again after extraction. */
  timesToRestore(): ReadonlyMap<string, Date> {
    return this.timeFixes;
  }

  private check(entry: EntryHeader): string | undefined {
    if (!WRITABLE.has(entry.type) && !SKIPPED.has(entry.type)) return `unsupported entry type ${entry.type}`;
    const parts = splitSafe(entry.path);
    if (typeof parts === 'string') return parts;
    if (parts.length === 0 && !DIRECTORY.has(entry.type)) return 'the archive root can only be a directory';
    const through = this.symlinkPrefix(parts, parts.length - 1);
    if (through !== undefined) return `path goes through the symlink ${JSON.stringify(through)}`;
    if (entry.type === 'Link') {
      const target = splitSafe(entry.linkpath ?? '');
      if (typeof target === 'string') return `hard link target ${JSON.stringify(entry.linkpath)}: ${target}`;
      if (target.length === 0) return 'hard link without a target';
      // link(2) does not follow a final symlink, but it does follow one in the middle.
      const via = this.symlinkPrefix(target, target.length - 1);
      if (via !== undefined) return `hard link target goes through the symlink ${JSON.stringify(via)}`;
    }
    return undefined;
  }

  /** The first of parts[0..n) prefixes that the archive made a symlink. */
  private symlinkPrefix(parts: readonly string[], n: number): string | undefined {
    for (let i = 1; i <= n; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) return prefix;
    }
    return undefined;
  }

  private recordMode(key: string, entry: EntryHeader): void {
    const raw = this.effectiveMode(entry);
    const mode = raw === undefined ? undefined : raw & 0o7777;
    const dir = DIRECTORY.has(entry.type);
    const needsFix = mode !== undefined && (FILE.has(entry.type) || dir) &&
      ((mode & 0o7000) !== 0 || (mode & this.umask) !== 0 || (dir && (mode & 0o700) !== 0o700));
    if (needsFix) this.modeFixes.set(key, mode);
    else this.modeFixes.delete(key);
  }
}

/** "./usr//bin/" -> "usr/bin"; undefined if the path is unsafe (see splitSafe). */
export function normalize(p: string): string | undefined {
  const parts = splitSafe(p);
  return typeof parts === 'string' ? undefined : parts.join('/');
}

/** The path's components without "" and "."; a string says why the path is refused. */
function splitSafe(p: string): string[] | string {
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.startsWith('/')) return 'absolute path';
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) return 'contains ".."';
  return parts;
}
