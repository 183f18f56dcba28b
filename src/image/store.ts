// The image store: content-addressed, extracted-once, read-only root filesystems.
//   <root>/blobs/<hex>/{rootfs/,config.json,meta.json}   hex = sha256 of the tarball
//   <root>/refs/<name>/<tag>                             "sha256:<hex>\n"
//   <root>/tmp/<pid>.<start>.<rand>/                     imports in progress
// A blob appears by one rename of a complete temp dir, so readers never see half
// an image and a crash leaves only a temp dir. Rootfs trees are never written
// after that rename: jobs mount them read-only (idmapped) as an overlay lower.
import fs from 'node:fs';
import path from 'node:path';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_CONFIG, parseImageConfig, readImageConfig, sameConfig } from './config.ts';
import { extractTarball } from './extract.ts';
import { sha256File } from './hash-file.ts';
import { digestHex, parseImageName, parseImageRef } from './ref.ts';
import { listRefs, readRef, writeRef } from './refs.ts';
import { cleanStaleTempDirs, createTempDir, releaseTempDir } from './temp-dirs.ts';
import type { ImageConfig, ResolvedImage } from './types.ts';

export interface ImportOptions {
  onProgress?(bytes: number, total: number): void;
  /** Defaults for jobs; an import without one keeps the blob's config (or gets a PATH only). */
  config?: ImageConfig;
  /**
   * The file's digest as the caller last computed it (recipes keep it next to the
   * tarball). Trusted only to find an already extracted blob without re-hashing
   * hundreds of MB; an extraction always checks the bytes it reads.
   */
  knownDigest?: string;
}

export interface ImageListEntry {
  name: string;
  tag: string;
  digest: string;
  sizeBytes?: number;
  importedAt?: string;
}

interface BlobMeta {
  digest: string;
  /** Sum of regular file sizes in the rootfs. */
  sizeBytes: number;
  tarballBytes: number;
  importedAt: string;
}

interface CachedConfig {
  config: ImageConfig;
  // config.json is only ever replaced by rename, so a new inode means new content.
  ino: number;
  mtimeMs: number;
}

export class ImageStore {
  readonly root: string;
  private readonly log: Logger;
  private readonly configs = new Map<string, CachedConfig>();
  private readonly metas = new Map<string, BlobMeta>();
  private readonly extracting = new Map<string, Promise<void>>();

  constructor(root: string, log: Logger = silentLogger) {
    this.root = path.resolve(root);
    this.log = log.child({ component: 'image-store' });
  }

  private blobDir(hex: string): string {
    return path.join(this.root, 'blobs', hex);
  }

  private get refsDir(): string {
    return path.join(this.root, 'refs');
  }

  /** Imports a rootfs tarball as `name[:tag]`; instant when its digest is already extracted. */
  async importTarball(file: string, name: string, opts: ImportOptions = {}): Promise<ResolvedImage> {
    const ref = parseImageName(name);
    const config = opts.config === undefined ? undefined : parseImageConfig(opts.config, 'the import options');
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat === undefined || !stat.isFile()) {
      throw new CellblockError('IMAGE_NOT_FOUND', `cannot import ${file}: no such file (want a rootfs tarball, .tar or .tar.gz)`);
    }
    const known = opts.knownDigest === undefined ? undefined : digestHex(opts.knownDigest);
    const hex = known !== undefined && fs.existsSync(path.join(this.blobDir(known), 'rootfs')) ? known : await sha256File(file);
    const log = this.log.child({ image: `${ref.name}:${ref.tag}`, digest: hex.slice(0, 12) });
    if (fs.existsSync(path.join(this.blobDir(hex), 'rootfs'))) {
      log.debug('already extracted');
    } else {
      await this.extractOnce(hex, file, config ?? DEFAULT_CONFIG, opts, log);
    }
    if (config !== undefined) this.updateConfig(hex, config, log);
    fs.mkdirSync(this.refsDir, { recursive: true, mode: 0o755 });
    writeRef(this.refsDir, ref.name, ref.tag, `sha256:${hex}`);
    log.info('image imported');
    return this.load(hex, name);
  }

  /** `name`, `name:tag` or `sha256:<hex>` to an extracted image. Sync: it runs once per job. */
  resolve(ref: string): ResolvedImage {
    const parsed = parseImageRef(ref);
    if (parsed.kind === 'digest') return this.load(parsed.hex, ref);
    const hex = readRef(this.refsDir, parsed.name, parsed.tag);
    if (hex === undefined) {
      throw new CellblockError('IMAGE_NOT_FOUND', `image ${ref} not found in ${this.root}: build it with \`cellblock image build ${parsed.name}\` (recipes: images/*/) or import a rootfs tarball with \`cellblock image import FILE --name ${ref}\``);
    }
    return this.load(hex, ref);
  }

  list(): ImageListEntry[] {
    const refs = listRefs(this.refsDir, (file, why) => this.log.warn({ file, why }, 'skipping unreadable image ref'));
    return refs.map((r) => {
      const meta = this.meta(r.digest.slice('sha256:'.length));
      return { ...r, ...(meta && { sizeBytes: meta.sizeBytes, importedAt: meta.importedAt }) };
    });
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

  /** Imports of one digest in this process share one extraction. */
  private async extractOnce(hex: string, file: string, config: ImageConfig, opts: ImportOptions, log: Logger): Promise<void> {
    let pending = this.extracting.get(hex);
    if (pending === undefined) {
      pending = this.extract(hex, file, config, opts, log).finally(() => this.extracting.delete(hex));
      this.extracting.set(hex, pending);
    }
    await pending;
  }

  private async extract(hex: string, file: string, config: ImageConfig, opts: ImportOptions, log: Logger): Promise<void> {
    const tmpRoot = path.join(this.root, 'tmp');
    fs.mkdirSync(path.join(this.root, 'blobs'), { recursive: true, mode: 0o755 });
    cleanStaleTempDirs(tmpRoot, log);
    const tmp = createTempDir(tmpRoot);
    try {
      const started = Date.now();
      const rootfs = path.join(tmp, 'rootfs');
      fs.mkdirSync(rootfs, { mode: 0o755 });
      const extractOpts = opts.onProgress === undefined ? {} : { onProgress: opts.onProgress };
      const result = await extractTarball(file, rootfs, extractOpts);
      if (result.hex !== hex) {
        throw new CellblockError('IMAGE_INVALID', `${file} changed while it was being imported; import it again once it is complete`);
      }
      // Whatever the archive said about "./", jobs need to traverse the root.
      fs.chmodSync(rootfs, 0o755);
      const meta: BlobMeta = { digest: `sha256:${hex}`, sizeBytes: result.fileBytes, tarballBytes: fs.statSync(file).size, importedAt: new Date().toISOString() };
      fs.writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });
      fs.writeFileSync(path.join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o644 });
      fs.chmodSync(tmp, 0o755);
      try {
        fs.renameSync(tmp, this.blobDir(hex));
      } catch (err) {
        const code = errnoCode(err);
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Another process extracted the same bytes first; its copy is as good as ours.
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
  return Object.freeze(c);
}
