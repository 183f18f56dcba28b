// Reads image archives users already have: an OCI image layout (a directory, or
// a tar of one, as `skopeo copy ... oci-archive:` writes) and `docker save`
// archives (manifest.json + config + layer tars; Docker 25+ writes both). What
// comes out is a LayeredImage: the config digest that names it, its job defaults
// and its layers in order, each with the digests its bytes must have.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CellblockError } from '../errors.ts';
import { fromOciConfig } from './config.ts';
import {
  checkOs, choosePlatform, diffIds, documentKind, MAX_JSON_BYTES, parseIndex, parseJson, parseManifest, type Descriptor,
} from './oci.ts';
import { TarIndex } from './tar-index.ts';
import type { ImageConfig } from './types.ts';

export interface LayerSource {
  /** Names the layer in messages and progress. */
  what: string;
  open(): Promise<Readable>;
  /** sha256 hex the layer's bytes (as stored, maybe compressed) must have. */
  digestHex?: string;
  /** Their exact size, when known: more is refused. */
  size?: number;
  /** sha256 hex of the uncompressed tar (the config's diff_id). */
  diffIdHex: string;
}

export interface LayeredImage {
  /** sha256 hex of the image config: the image's id, and its key in the store. */
  hex: string;
  config: ImageConfig;
  layers: LayerSource[];
  /** Where it came from, for `image inspect`. */
  source: string;
  manifestDigest?: string;
  architecture?: string;
}

/** The files of an archive, whether a directory or a tar. Names are relative and checked. */
export interface ArchiveFiles {
  readonly describe: string;
  has(name: string): boolean;
  read(name: string, max: number): Buffer;
  open(name: string): Readable;
}

export class DirFiles implements ArchiveFiles {
  constructor(readonly describe: string) {}

  private file(name: string): string | undefined {
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (name.startsWith('/') || parts.includes('..') || parts.length === 0) {
      throw new CellblockError('IMAGE_INVALID', `${this.describe} refers to ${JSON.stringify(name)}, outside the archive`);
    }
    const p = path.join(this.describe, ...parts);
    // Regular files only: a symlink in the layout could point anywhere on the host.
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    return st !== undefined && st.isFile() ? p : undefined;
  }

  has(name: string): boolean {
    return this.file(name) !== undefined;
  }

  read(name: string, max: number): Buffer {
    const p = this.must(name);
    const size = fs.statSync(p).size;
    if (size > max) throw new CellblockError('IMAGE_INVALID', `${p} is ${size} bytes, more than the ${max} allowed`);
    return fs.readFileSync(p);
  }

  open(name: string): Readable {
    return fs.createReadStream(this.must(name), { highWaterMark: 1 << 20 });
  }

  private must(name: string): string {
    const p = this.file(name);
    if (p === undefined) throw new CellblockError('IMAGE_INVALID', `${this.describe} has no file ${name}`);
    return p;
  }
}

export class TarFiles implements ArchiveFiles {
  constructor(private readonly index: TarIndex, readonly describe: string) {}

  private static check(name: string, describe: string): void {
    if (name.startsWith('/') || name.split('/').includes('..')) {
      throw new CellblockError('IMAGE_INVALID', `${describe} refers to ${JSON.stringify(name)}, outside the archive`);
    }
  }

  has(name: string): boolean {
    TarFiles.check(name, this.describe);
    return this.index.has(name);
  }

  read(name: string, max: number): Buffer {
    TarFiles.check(name, this.describe);
    return this.index.read(name, max);
  }

  open(name: string): Readable {
    TarFiles.check(name, this.describe);
    return this.index.open(name);
  }
}

export type ArchiveKind = 'oci' | 'docker';

/** What kind of image archive `files` holds, or undefined for none (a plain rootfs). */
export function archiveKind(files: ArchiveFiles): ArchiveKind | undefined {
  if (files.has('oci-layout') && files.has('index.json')) return 'oci';
  if (files.has('manifest.json')) return 'docker';
  return undefined;
}

/** Reads the image in `files`; `ref` picks one when the archive holds several. */
export function readArchive(files: ArchiveFiles, kind: ArchiveKind, ref?: string): LayeredImage {
  return kind === 'oci' ? readOciLayout(files, ref) : readDockerArchive(files, ref);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function readBlob(files: ArchiveFiles, d: Descriptor): Buffer {
  const bytes = files.read(`blobs/sha256/${d.hex}`, Math.min(d.size, MAX_JSON_BYTES));
  if (bytes.length !== d.size || sha256(bytes) !== d.hex) {
    throw new CellblockError('IMAGE_INVALID', `${files.describe}: blob ${d.digest} does not match its digest or size; the archive is corrupt or was tampered with`);
  }
  return bytes;
}

function readOciLayout(files: ArchiveFiles, ref: string | undefined): LayeredImage {
  const where = files.describe;
  const layout = parseJson(files.read('oci-layout', 4096), `${where}/oci-layout`);
  if (typeof layout.imageLayoutVersion !== 'string') throw new CellblockError('IMAGE_INVALID', `${where}/oci-layout has no imageLayoutVersion`);
  let candidates = parseIndex(parseJson(files.read('index.json', MAX_JSON_BYTES), `${where}/index.json`), `${where}/index.json`);
  const refName = (d: Descriptor): string | undefined => d.annotations?.['org.opencontainers.image.ref.name'];
  if (ref !== undefined) {
    candidates = candidates.filter((d) => refName(d) === ref || d.annotations?.['io.containerd.image.name']?.endsWith(`:${ref}`) === true || d.annotations?.['io.containerd.image.name'] === ref);
    if (candidates.length === 0) throw new CellblockError('IMAGE_NOT_FOUND', `${where} has no image named ${JSON.stringify(ref)} (org.opencontainers.image.ref.name)`);
  }
  let desc: Descriptor;
  if (candidates.length === 1 && candidates[0] !== undefined) desc = candidates[0];
  else if (candidates.every((d) => d.platform !== undefined)) desc = choosePlatform(candidates, `${where}/index.json`);
  else {
    const names = candidates.map((d) => refName(d) ?? d.digest).join(', ');
    throw new CellblockError('IMAGE_INVALID', `${where} holds ${candidates.length} images (${names}); pick one with --ref NAME`);
  }
  // Nested indexes (a multi-platform image in a layout): follow them to one manifest.
  for (let depth = 0; ; depth++) {
    if (depth > 4) throw new CellblockError('IMAGE_INVALID', `${where}: indexes nested too deep`);
    const doc = parseJson(readBlob(files, desc), `${where} ${desc.digest}`);
    if (documentKind(doc, desc.mediaType, `${where} ${desc.digest}`) === 'manifest') {
      return layeredFromManifest(files, doc, desc, where);
    }
    desc = choosePlatform(parseIndex(doc, `${where} ${desc.digest}`), `${where} ${desc.digest}`);
  }
}

function layeredFromManifest(files: ArchiveFiles, doc: Record<string, unknown>, desc: Descriptor, where: string): LayeredImage {
  const manifest = parseManifest(doc, `${where} ${desc.digest}`);
  const configBytes = readBlob(files, manifest.config);
  const rawConfig = parseJson(configBytes, `${where} config ${manifest.config.digest}`);
  checkOs(rawConfig, where);
  const ids = diffIds(rawConfig, manifest.layers.length, `${where} config`);
  return {
    hex: manifest.config.hex,
    config: fromOciConfig(rawConfig, `${where} config`),
    source: where,
    manifestDigest: desc.digest,
    ...(typeof rawConfig.architecture === 'string' && { architecture: rawConfig.architecture }),
    layers: manifest.layers.map((l, i) => ({
      what: `layer ${i + 1}/${manifest.layers.length} (${l.digest.slice(0, 19)})`,
      open: () => Promise.resolve(files.open(`blobs/sha256/${l.hex}`)),
      digestHex: l.hex,
      size: l.size,
      diffIdHex: ids[i] ?? '',
    })),
  };
}

function readDockerArchive(files: ArchiveFiles, ref: string | undefined): LayeredImage {
  const where = files.describe;
  let list: unknown;
  try {
    list = JSON.parse(files.read('manifest.json', MAX_JSON_BYTES).toString('utf8'));
  } catch (err) {
    if (err instanceof CellblockError) throw err;
    throw new CellblockError('IMAGE_INVALID', `${where}/manifest.json is not JSON`);
  }
  if (!Array.isArray(list) || list.length === 0) throw new CellblockError('IMAGE_INVALID', `${where}/manifest.json lists no images`);
  const entries = list.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
  const tags = (e: Record<string, unknown>): string[] => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  let chosen = entries;
  if (ref !== undefined) chosen = entries.filter((e) => tags(e).some((t) => t === ref || t.endsWith(`/${ref}`)));
  if (chosen.length !== 1 || chosen[0] === undefined) {
    const all = entries.map((e) => tags(e).join(' ') || '(untagged)').join(', ');
    throw new CellblockError(chosen.length === 0 ? 'IMAGE_NOT_FOUND' : 'IMAGE_INVALID',
      ref !== undefined && chosen.length === 0 ? `${where} has no image tagged ${ref}; it has: ${all}` : `${where} holds ${entries.length} images (${all}); pick one with --ref REPO:TAG`);
  }
  const entry = chosen[0];
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
    throw new CellblockError('IMAGE_INVALID', `${where}/manifest.json: an entry without Config or Layers`);
  }
  const layerPaths = entry.Layers as string[];
  const configBytes = files.read(entry.Config, MAX_JSON_BYTES);
  const hex = sha256(configBytes);
  // Named after its digest (<hex>.json, or blobs/sha256/<hex> since Docker 25): it must match.
  const named = /([0-9a-f]{64})(\.json)?$/.exec(entry.Config)?.[1];
  if (named !== undefined && named !== hex) throw new CellblockError('IMAGE_INVALID', `${where}: ${entry.Config} does not match its digest; the archive is corrupt or was tampered with`);
  const rawConfig = parseJson(configBytes, `${where}/${entry.Config}`);
  checkOs(rawConfig, where);
  const ids = diffIds(rawConfig, layerPaths.length, `${where}/${entry.Config}`);
  return {
    hex,
    config: fromOciConfig(rawConfig, `${where}/${entry.Config}`),
    source: where,
    ...(typeof rawConfig.architecture === 'string' && { architecture: rawConfig.architecture }),
    layers: layerPaths.map((p, i) => {
      const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(p)?.[1];
      return {
        what: `layer ${i + 1}/${layerPaths.length} (${p})`,
        open: () => Promise.resolve(files.open(p)),
        ...(blob !== undefined && { digestHex: blob }),
        diffIdHex: ids[i] ?? '',
      };
    }),
  };
}
