// The image store: content-addressed, extracted-once, read-only root filesystems.
//   <root>/blobs/<hex>/{rootfs/,config.json,meta.json,last-used}
//        hex = sha256 of a plain rootfs tarball, or of a layered image's config
//        (its image id: the same image from docker save, an OCI layout or a
//        registry is extracted once)
//   <root>/refs/<name>/<tag>        "sha256:<hex>\n"
//   <root>/tmp/<pid>.<start>.<rand>/ imports in progress (0700)
//   <root>/locks/<hex>.lock         who is extracting, tagging or removing <hex>
//   <root>/trash/                   blobs being removed
// A blob appears by one rename of a complete temp dir, so readers never see half
// an image and a crash leaves only a temp dir. Rootfs trees are never written
// after that rename: jobs mount them read-only (idmapped) as an overlay lower.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { jobsDirIn } from '../sandbox/run-dir.ts';
import { archiveKind, DirFiles, readArchive, TarFiles, type LayeredImage } from './archive.ts';
import { DEFAULT_CONFIG, parseImageConfig, readImageConfig, sameConfig } from './config.ts';
import { decompress, HashTap, sniffCompression } from './decompress.ts';
import { extractTarball, RootfsBuilder, type ExtractResult } from './extract.ts';
import { sha256File } from './hash-file.ts';
import { acquireLock, tryLock, type HeldLock } from './lock.ts';
import { noProgress, type Progress } from './progress.ts';
import { digestHex, parseImageName, parseImageRef } from './ref.ts';
import { listRefs, readRef, writeRef, type RefEntry } from './refs.ts';
import { TarIndex } from './tar-index.ts';
import { cleanStaleTempDirs, createTempDir, releaseTempDir } from './temp-dirs.ts';
import type { ImageConfig, ResolvedImage } from './types.ts';
import { digestsInUse, LastUsed, lastUsedMs } from './usage.ts';

export interface ImportOptions {
  /** Steps and bytes as they are read. */
  progress?: Progress;
  /** Defaults for jobs; an import without one keeps the blob's config (or the image's own). */
  config?: ImageConfig;
  /**
   * The file's digest as the caller last computed it (recipes keep it next to the
   * tarball). Trusted only to find an already extracted blob without re-hashing
   * hundreds of MB; an extraction always checks the bytes it reads.
   */
  knownDigest?: string;
  /** Keep setuid/setgid bits on files (default: dropped). */
  allowSetuid?: boolean;
  /** Which image of an archive that holds several (a ref.name or a RepoTag). */
  ref?: string;
}

export interface StoreOptions {
  /** <state>/run/jobs: where live jobs record the image they use. Default: next to the store. */
  jobsDir?: string;
}

export interface ImageListEntry {
  name: string;
  tag: string;
  digest: string;
  sizeBytes?: number;
  importedAt?: string;
  lastUsed?: string;
}

export type ImageKind = 'rootfs' | 'oci' | 'docker' | 'registry';

export interface BlobMeta {
  digest: string;
  /** Sum of regular file sizes in the rootfs. */
  sizeBytes: number;
  /** Bytes read to make it (tarball or layers as stored). */
  tarballBytes: number;
  importedAt: string;
  kind?: ImageKind;
  source?: string;
  manifestDigest?: string;
  architecture?: string;
  layers?: number;
  setuid?: 'dropped' | 'kept';
}

export interface ImageInspect {
  digest: string;
  rootfs: string;
  refs: string[];
  config: ImageConfig;
  meta?: BlobMeta;
  lastUsed?: string;
  inUse: boolean;
}

export interface GcOptions {
  /** Keep the sum of image sizes at or under this many bytes (least recently used go first). */
  budgetBytes?: number;
  /** Never removed by this run (the image just imported). */
  keep?: string;
}

export interface GcReport {
  removed: Array<{ digest: string; sizeBytes: number; reason: 'unreferenced' | 'over budget'; refs: string[] }>;
  /** Over-budget candidates left because a job uses them (or an import holds them). */
  skippedInUse: string[];
  totalBytes: number;
}

/** Thrown when an image a live job uses would be removed. */
export class ImageInUseError extends CellblockError {
  constructor(message: string) {
    super('IMAGE_INVALID', message);
    this.name = 'ImageInUseError';
  }
}

interface CachedConfig {
  config: ImageConfig;
  // config.json is only ever replaced by rename, so a new inode means new content.
  ino: number;
  mtimeMs: number;
}

/** Extraction work handed to ensureBlob: fill `rootfs`, return what meta.json records. */
type Extractor = (rootfs: string) => Promise<{ result: ExtractResult; meta: Omit<BlobMeta, 'digest' | 'sizeBytes' | 'importedAt'> }>;

export class ImageStore {
  readonly root: string;
  readonly jobsDir: string;
  private readonly log: Logger;
  private readonly configs = new Map<string, CachedConfig>();
  private readonly metas = new Map<string, BlobMeta>();
  private readonly lastUsed = new LastUsed();

  constructor(root: string, log: Logger = silentLogger, opts: StoreOptions = {}) {
    this.root = path.resolve(root);
    this.log = log.child({ component: 'image-store' });
    // The state dir holds images/ and run/jobs/ side by side.
    this.jobsDir = opts.jobsDir ?? jobsDirIn(path.dirname(this.root));
  }

  private blobDir(hex: string): string {
    return path.join(this.root, 'blobs', hex);
  }

  private get refsDir(): string {
    return path.join(this.root, 'refs');
  }

  private get locksDir(): string {
    return path.join(this.root, 'locks');
  }

  private has(hex: string): boolean {
    return fs.existsSync(path.join(this.blobDir(hex), 'rootfs'));
  }

  /** Kept for callers of the first version: any importable file or directory. */
  importTarball(file: string, name: string, opts: ImportOptions = {}): Promise<ResolvedImage> {
    return this.importFile(file, name, opts);
  }

  /**
   * Imports `file` as `name[:tag]`: a rootfs tarball (plain, gzip, zstd or xz), a
   * `docker save` archive, or an OCI image layout (a directory or a tar of one).
   * Instant when its content is already extracted.
   */
  async importFile(file: string, name: string, opts: ImportOptions = {}): Promise<ResolvedImage> {
    const ref = { ...parseImageName(name), given: name };
    const config = opts.config === undefined ? undefined : parseImageConfig(opts.config, 'the import options');
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat === undefined || (!stat.isFile() && !stat.isDirectory())) {
      throw new CellblockError('IMAGE_NOT_FOUND', `cannot import ${file}: no such file or directory (want a rootfs tarball .tar[.gz|.zst|.xz], a docker save archive or an OCI image layout)`);
    }
    if (stat.isDirectory()) {
      const files = new DirFiles(file);
      const kind = archiveKind(files);
      if (kind === undefined) throw new CellblockError('IMAGE_INVALID', `${file} is a directory but not an OCI image layout (no oci-layout and index.json) nor an unpacked docker save archive (no manifest.json)`);
      return this.importLayered(readArchive(files, kind, opts.ref), { ...ref, kind }, { ...opts, ...(config && { config }) });
    }
    const known = opts.knownDigest === undefined ? undefined : digestHex(opts.knownDigest);
    if (known !== undefined && this.has(known)) {
      return this.finishImport(known, ref, config, this.log.child({ image: `${ref.name}:${ref.tag}`, digest: known.slice(0, 12) }), async () => {
        throw new CellblockError('IMAGE_INVALID', 'unreachable: a known digest is extracted');
      });
    }
    const head = Buffer.alloc(6);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, 6, 0);
    } finally {
      fs.closeSync(fd);
    }
    const compression = sniffCompression(head);
    if (compression === 'none') return this.importTarFile(file, file, undefined, ref, config, opts);
    // Compressed: decompress once to a temp file (an archive's layers are read at
    // random), hashing the bytes as stored: a compressed rootfs keeps the digest of
    // the file the user has.
    const tmp = this.newTempDir();
    try {
      const spool = path.join(tmp, 'input.tar');
      const progress = opts.progress ?? noProgress;
      progress.step(`decompressing ${path.basename(file)} (${compression})`, stat.size);
      const tap = new HashTap((n) => progress.bytes(n));
      const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
      input.on('error', (err) => tap.destroy(err));
      await pipeline(decompress(input.pipe(tap), compression, file), fs.createWriteStream(spool, { mode: 0o600 }));
      progress.stepDone();
      return await this.importTarFile(spool, file, tap.hex(), ref, config, opts);
    } finally {
      releaseTempDir(tmp);
    }
  }

  /** Imports from a stream (`image import -`): spooled to a temp file first, as an archive needs random access. */
  async importStream(input: Readable, name: string, opts: ImportOptions = {}): Promise<ResolvedImage> {
    parseImageName(name);
    const tmp = this.newTempDir();
    try {
      const spool = path.join(tmp, 'stdin');
      const progress = opts.progress ?? noProgress;
      progress.step('reading stdin');
      const tap = new HashTap((n) => progress.bytes(n));
      await pipeline(input, tap, fs.createWriteStream(spool, { mode: 0o600 }));
      progress.stepDone();
      return await this.importFile(spool, name, { ...opts, knownDigest: `sha256:${tap.hex()}` });
    } finally {
      releaseTempDir(tmp);
    }
  }

  /** `tarPath`: an uncompressed tar (the file itself or its decompressed copy); `rawHex`: digest of the original. */
  private async importTarFile(tarPath: string, original: string, rawHex: string | undefined, ref: { name: string; tag: string; given?: string }, config: ImageConfig | undefined, opts: ImportOptions): Promise<ResolvedImage> {
    const index = TarIndex.open(tarPath);
    if (index === undefined) throw new CellblockError('IMAGE_INVALID', `cannot import ${original}: not a tar archive (nor a gzip, zstd or xz compressed one)`);
    const kind = archiveKind(new TarFiles(index, original));
    if (kind !== undefined) {
      return this.importLayered(readArchive(new TarFiles(index, original), kind, opts.ref), { ...ref, kind }, { ...opts, ...(config && { config }) });
    }
    const progress = opts.progress ?? noProgress;
    let hex = rawHex;
    if (hex === undefined) {
      progress.step(`hashing ${path.basename(original)}`, fs.statSync(tarPath).size);
      hex = await sha256File(tarPath, (n) => progress.bytes(n));
      progress.stepDone();
    }
    const digestHexValue = hex;
    const log = this.log.child({ image: `${ref.name}:${ref.tag}`, digest: hex.slice(0, 12) });
    return this.finishImport(hex, ref, config, log, async (rootfs) => {
      const size = fs.statSync(tarPath).size;
      progress.step(`extracting ${path.basename(original)}`, size);
      let seen = 0;
      const result = await extractTarball(tarPath, rootfs, {
        allowSetuid: opts.allowSetuid === true,
        onProgress: (bytes) => {
          progress.bytes(bytes - seen);
          seen = bytes;
        },
      });
      progress.stepDone();
      // Only when reading the user's file itself: it must not have changed since it was hashed.
      if (rawHex === undefined && result.hex !== digestHexValue) {
        throw new CellblockError('IMAGE_INVALID', `${original} changed while it was being imported; import it again once it is complete`);
      }
      return { result, meta: { tarballBytes: size, kind: 'rootfs', source: original, setuid: opts.allowSetuid === true ? 'kept' : 'dropped' } };
    }, config ?? DEFAULT_CONFIG);
  }

  /**
   * Imports a layered image (from an archive, or a registry pull): layers applied
   * in order, each checked against its digests. Nothing is read if the image is
   * already extracted.
   */
  async importLayered(image: LayeredImage, ref: { name: string; tag: string; kind: ImageKind; given?: string }, opts: ImportOptions = {}): Promise<ResolvedImage> {
    const config = opts.config === undefined ? undefined : parseImageConfig(opts.config, 'the import options');
    const log = this.log.child({ image: `${ref.name}:${ref.tag}`, digest: image.hex.slice(0, 12) });
    const progress = opts.progress ?? noProgress;
    return this.finishImport(image.hex, ref, config, log, async (rootfs) => {
      const builder = new RootfsBuilder(rootfs, { allowSetuid: opts.allowSetuid === true });
      let bytes = 0;
      for (const layer of image.layers) {
        progress.step(layer.what, layer.size);
        const raw = new HashTap((n) => progress.bytes(n), layer.size);
        const input = await layer.open();
        input.on('error', (err) => raw.destroy(err));
        const { diffHex } = await builder.apply(input.pipe(raw), layer.what, { whiteouts: true });
        if (layer.size !== undefined && raw.bytes !== layer.size) {
          throw new CellblockError('IMAGE_INVALID', `${layer.what}: ${raw.bytes} bytes, but ${layer.size} were announced`);
        }
        if (layer.digestHex !== undefined && raw.hex() !== layer.digestHex) {
          throw new CellblockError('IMAGE_INVALID', `${layer.what}: content does not match its digest sha256:${layer.digestHex} (got sha256:${raw.hex()})`);
        }
        if (diffHex !== layer.diffIdHex) {
          throw new CellblockError('IMAGE_INVALID', `${layer.what}: uncompressed content does not match the config's diff_id sha256:${layer.diffIdHex}`);
        }
        bytes += raw.bytes;
        progress.stepDone();
      }
      return {
        result: builder.finish(),
        meta: {
          tarballBytes: bytes, kind: ref.kind, source: image.source, layers: image.layers.length,
          ...(image.manifestDigest !== undefined && { manifestDigest: image.manifestDigest }),
          ...(image.architecture !== undefined && { architecture: image.architecture }),
          setuid: opts.allowSetuid === true ? 'kept' : 'dropped',
        },
      };
    }, config ?? image.config);
  }

  /** Under the digest's lock: extract if missing, apply an explicit config, point the ref at it. */
  private async finishImport(hex: string, ref: { name: string; tag: string; given?: string }, explicitConfig: ImageConfig | undefined, log: Logger, extract: Extractor, initialConfig: ImageConfig = DEFAULT_CONFIG): Promise<ResolvedImage> {
    const lock = await this.lock(hex, log);
    try {
      if (this.has(hex)) log.debug('already extracted');
      else await this.extract(hex, extract, initialConfig, log);
      if (explicitConfig !== undefined) this.updateConfig(hex, explicitConfig, log);
      fs.mkdirSync(this.refsDir, { recursive: true, mode: 0o755 });
      writeRef(this.refsDir, ref.name, ref.tag, `sha256:${hex}`);
      this.lastUsed.touch(hex, this.blobDir(hex));
    } finally {
      lock.release();
    }
    log.info('image imported');
    return this.load(hex, ref.given ?? `${ref.name}:${ref.tag}`);
  }

  private lock(hex: string, log: Logger): Promise<HeldLock> {
    this.ensureRoot();
    return acquireLock(this.locksDir, hex, {
      onWait: (pid) => log.info({ holder: pid }, 'another import of this image is under way; waiting for it'),
    });
  }

  /** True if the image exists (for pull: skip every download). */
  hasDigest(digest: string): boolean {
    const hex = digestHex(digest);
    return hex !== undefined && this.has(hex);
  }

  /** Points `name[:tag]` at an extracted digest. */
  async tag(digest: string, name: string): Promise<ResolvedImage> {
    const hex = digestHex(digest);
    if (hex === undefined || !this.has(hex)) throw new CellblockError('IMAGE_NOT_FOUND', `no extracted image ${digest}`);
    const ref = { ...parseImageName(name), given: name };
    return this.finishImport(hex, ref, undefined, this.log.child({ image: name, digest: hex.slice(0, 12) }), () => Promise.reject(new Error('unreachable')));
  }

  /** `name`, `name:tag` or `sha256:<hex>` to an extracted image. Sync: it runs once per job. */
  resolve(ref: string): ResolvedImage {
    const parsed = parseImageRef(ref);
    const hex = parsed.kind === 'digest' ? parsed.hex : readRef(this.refsDir, parsed.name, parsed.tag);
    if (hex === undefined) {
      const name = parsed.kind === 'name' ? parsed.name : ref;
      throw new CellblockError('IMAGE_NOT_FOUND', `image ${ref} not found in ${this.root}: build it with \`cellblock image build ${name}\` (recipes: images/*/), import it with \`cellblock image import FILE --name ${ref}\` (a rootfs tarball, docker save archive or OCI layout), or pull it with \`cellblock image pull REGISTRY/REPO:TAG --name ${ref}\``);
    }
    const image = this.load(hex, ref);
    this.lastUsed.touch(hex, this.blobDir(hex));
    return image;
  }

  list(): ImageListEntry[] {
    return this.refs().map((r) => {
      const hex = r.digest.slice('sha256:'.length);
      const meta = this.meta(hex);
      const used = lastUsedMs(this.blobDir(hex));
      return { ...r, ...(meta && { sizeBytes: meta.sizeBytes, importedAt: meta.importedAt }), ...(used !== undefined && { lastUsed: new Date(used).toISOString() }) };
    });
  }

  inspect(ref: string): ImageInspect {
    const image = this.load(this.hexOf(ref), ref);
    const hex = image.digest.slice('sha256:'.length);
    const meta = this.meta(hex);
    const used = lastUsedMs(this.blobDir(hex));
    return {
      digest: image.digest,
      rootfs: image.rootfs,
      refs: this.refs().filter((r) => r.digest === image.digest).map((r) => `${r.name}:${r.tag}`),
      config: image.config,
      ...(meta && { meta }),
      ...(used !== undefined && { lastUsed: new Date(used).toISOString() }),
      inUse: digestsInUse(this.jobsDir).has(hex),
    };
  }

  /**
   * Removes `name[:tag]` (and the extracted image, once no name points at it), or
   * `sha256:<hex>` with every name pointing at it. Refused while a job uses it.
   */
  async remove(ref: string): Promise<{ untagged: string[]; deleted?: string }> {
    const parsed = parseImageRef(ref);
    const hex = this.hexOf(ref);
    const log = this.log.child({ image: ref, digest: hex.slice(0, 12) });
    const inUse = (): boolean => digestsInUse(this.jobsDir).has(hex);
    if (inUse()) throw new ImageInUseError(`image ${ref} (sha256:${hex}) is in use by a running job; remove it once the job has ended`);
    const lock = await this.lock(hex, log);
    try {
      const pointing = this.refs().filter((r) => r.digest === `sha256:${hex}`);
      const untag = parsed.kind === 'digest' ? pointing : pointing.filter((r) => r.name === parsed.name && r.tag === parsed.tag);
      const keepsBlob = pointing.length > untag.length;
      if (!keepsBlob && !this.moveToTrash(hex, inUse)) {
        throw new ImageInUseError(`image ${ref} (sha256:${hex}) is in use by a running job; remove it once the job has ended`);
      }
      for (const r of untag) this.removeRef(r.name, r.tag, hex);
      log.info({ untagged: untag.length, deleted: !keepsBlob }, 'image removed');
      return { untagged: untag.map((r) => `${r.name}:${r.tag}`), ...(!keepsBlob && { deleted: `sha256:${hex}` }) };
    } finally {
      lock.release();
      this.emptyTrash();
    }
  }

  /**
   * Removes images no name points at, then, while the store is over `budgetBytes`,
   * the least recently used ones (with their names). Never an image a live job
   * uses or an import holds.
   */
  gc(opts: GcOptions = {}): GcReport {
    cleanStaleTempDirs(path.join(this.root, 'tmp'), this.log);
    this.emptyTrash();
    const report: GcReport = { removed: [], skippedInUse: [], totalBytes: 0 };
    const refs = this.refs();
    const keep = opts.keep === undefined ? undefined : digestHex(opts.keep);
    const blobs = this.blobHexes().map((hex) => ({
      hex,
      size: this.meta(hex)?.sizeBytes ?? 0,
      used: lastUsedMs(this.blobDir(hex)) ?? Date.parse(this.meta(hex)?.importedAt ?? '') ?? 0,
      refs: refs.filter((r) => r.digest === `sha256:${hex}`).map((r) => `${r.name}:${r.tag}`),
    }));
    let total = blobs.reduce((n, b) => n + b.size, 0);
    const tryRemove = (b: (typeof blobs)[number], reason: 'unreferenced' | 'over budget'): boolean => {
      if (b.hex === keep) return false;
      this.ensureRoot();
      const lock = tryLock(this.locksDir, b.hex);
      if (typeof lock === 'number') {
        report.skippedInUse.push(`sha256:${b.hex}`);
        return false;
      }
      try {
        if (!this.moveToTrash(b.hex, () => digestsInUse(this.jobsDir).has(b.hex))) {
          report.skippedInUse.push(`sha256:${b.hex}`);
          return false;
        }
        for (const r of b.refs) {
          const colon = r.lastIndexOf(':');
          this.removeRef(r.slice(0, colon), r.slice(colon + 1), b.hex);
        }
      } finally {
        lock.release();
      }
      total -= b.size;
      report.removed.push({ digest: `sha256:${b.hex}`, sizeBytes: b.size, reason, refs: b.refs });
      this.log.info({ digest: b.hex.slice(0, 12), sizeBytes: b.size, reason, refs: b.refs }, 'image garbage-collected');
      return true;
    };
    for (const b of blobs.filter((x) => x.refs.length === 0)) tryRemove(b, 'unreferenced');
    if (opts.budgetBytes !== undefined) {
      const removed = new Set(report.removed.map((r) => r.digest));
      const candidates = blobs.filter((b) => !removed.has(`sha256:${b.hex}`)).sort((a, b) => a.used - b.used);
      for (const b of candidates) {
        if (total <= opts.budgetBytes) break;
        tryRemove(b, 'over budget');
      }
    }
    this.emptyTrash();
    report.totalBytes = total;
    return report;
  }

  private hexOf(ref: string): string {
    const parsed = parseImageRef(ref);
    const hex = parsed.kind === 'digest' ? parsed.hex : readRef(this.refsDir, parsed.name, parsed.tag);
    if (hex === undefined || !fs.existsSync(this.blobDir(hex))) throw new CellblockError('IMAGE_NOT_FOUND', `no image ${ref} in ${this.root}`);
    return hex;
  }

  private refs(): RefEntry[] {
    return listRefs(this.refsDir, (file, why) => this.log.warn({ file, why }, 'skipping unreadable image ref'));
  }

  private blobHexes(): string[] {
    try {
      return fs.readdirSync(path.join(this.root, 'blobs')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Renames the blob out of blobs/ unless a job uses it; checks again after the
   * rename and puts it back if a job started with it meanwhile (the runner records
   * the digest, then checks the rootfs is still there). Caller holds the lock.
   */
  private moveToTrash(hex: string, inUse: () => boolean): boolean {
    if (inUse()) return false;
    const trash = path.join(this.root, 'trash');
    fs.mkdirSync(trash, { recursive: true, mode: 0o700 });
    const aside = path.join(trash, `${hex}.${randomBytes(4).toString('hex')}`);
    try {
      fs.renameSync(this.blobDir(hex), aside);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      throw err;
    }
    if (inUse()) {
      fs.renameSync(aside, this.blobDir(hex));
      return false;
    }
    this.configs.delete(hex);
    this.metas.delete(hex);
    return true;
  }

  private emptyTrash(): void {
    const trash = path.join(this.root, 'trash');
    let names: string[];
    try {
      names = fs.readdirSync(trash);
    } catch {
      return;
    }
    for (const n of names) fs.rmSync(path.join(trash, n), { recursive: true, force: true });
  }

  /** Removes refs/<name>/<tag> if it still points at `hex`, and the name's empty directories. */
  private removeRef(name: string, tag: string, hex: string): void {
    try {
      if (readRef(this.refsDir, name, tag) !== hex) return;
    } catch {
      return;
    }
    fs.rmSync(path.join(this.refsDir, name, tag), { force: true });
    let dir = path.join(this.refsDir, name);
    while (dir !== this.refsDir && dir.startsWith(this.refsDir)) {
      try {
        fs.rmdirSync(dir);
      } catch {
        break; // not empty
      }
      dir = path.dirname(dir);
    }
  }

  private load(hex: string, ref: string): ResolvedImage {
    const dir = this.blobDir(hex);
    const file = path.join(dir, 'config.json');
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st === undefined) {
      throw new CellblockError('IMAGE_NOT_FOUND', `image ${ref} (sha256:${hex}) is not extracted in ${this.root}: import its tarball again (\`cellblock image import FILE --name NAME\`)`);
    }
    let cached = this.configs.get(hex);
    if (cached === undefined || cached.ino !== st.ino || cached.mtimeMs !== st.mtimeMs) {
      cached = { config: deepFreeze(readImageConfig(file)), ino: st.ino, mtimeMs: st.mtimeMs };
      this.configs.set(hex, cached);
    }
    return { name: ref, digest: `sha256:${hex}`, rootfs: path.join(dir, 'rootfs'), config: cached.config };
  }

  private meta(hex: string): BlobMeta | undefined {
    let meta = this.metas.get(hex);
    if (meta === undefined) {
      try {
        meta = JSON.parse(fs.readFileSync(path.join(this.blobDir(hex), 'meta.json'), 'utf8')) as BlobMeta;
        this.metas.set(hex, meta);
      } catch (err) {
        this.log.debug({ digest: hex.slice(0, 12), err: errorMessage(err) }, 'no image metadata');
      }
    }
    return meta;
  }

  /**
   * The store and the state dir above it must be traversable (0755): jobs' container
   * roots reach the rootfs through them. Made first, so that no 0700 directory made
   * later with `recursive` (locks/, tmp/) creates them.
   */
  private ensureRoot(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o755 });
  }

  private newTempDir(): string {
    this.ensureRoot();
    const tmpRoot = path.join(this.root, 'tmp');
    cleanStaleTempDirs(tmpRoot, this.log);
    return createTempDir(tmpRoot);
  }

  private async extract(hex: string, extractor: Extractor, config: ImageConfig, log: Logger): Promise<void> {
    fs.mkdirSync(path.join(this.root, 'blobs'), { recursive: true, mode: 0o755 });
    const tmp = this.newTempDir();
    try {
      const started = Date.now();
      const rootfs = path.join(tmp, 'rootfs');
      fs.mkdirSync(rootfs, { mode: 0o755 });
      const { result, meta: extra } = await extractor(rootfs);
      // Whatever the archive said about "./", jobs need to traverse the root.
      fs.chmodSync(rootfs, 0o755);
      const meta: BlobMeta = { digest: `sha256:${hex}`, sizeBytes: result.fileBytes, importedAt: new Date().toISOString(), ...extra };
      fs.writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });
      fs.writeFileSync(path.join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o644 });
      fs.chmodSync(tmp, 0o755);
      try {
        fs.renameSync(tmp, this.blobDir(hex));
      } catch (err) {
        const code = errnoCode(err);
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Another process extracted the same bytes first (without our lock: a broken
        // stale lock, or an older cellblock); its copy is as good as ours.
        log.info('image extracted concurrently elsewhere; discarding this copy');
        return;
      }
      log.info({ entries: result.entries, skipped: result.skipped, sizeBytes: result.fileBytes, ms: Date.now() - started }, 'image extracted');
    } finally {
      releaseTempDir(tmp);
    }
  }

  /** An explicit config replaces the blob's one (by rename: readers see old or new). */
  private updateConfig(hex: string, config: ImageConfig, log: Logger): void {
    const file = path.join(this.blobDir(hex), 'config.json');
    if (sameConfig(readImageConfig(file), config)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
    log.info('image config updated');
  }
}

function deepFreeze(c: ImageConfig): ImageConfig {
  Object.freeze(c.env);
  if (c.cmd !== undefined) Object.freeze(c.cmd);
  if (c.entrypoint !== undefined) Object.freeze(c.entrypoint);
  return Object.freeze(c);
}
