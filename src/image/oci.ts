// The OCI image format (image-spec: descriptor, index, manifest, config) and the
// Docker v2 schema 2 equivalents registries and `docker save` still use. Only
// parsing and choosing here; reading blobs is the caller's (a directory, a tar,
// a registry), and every blob read is checked against the digest named here.
import { CellblockError } from '../errors.ts';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** What a registry is asked for: any of the four, and the server picks. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

/** Manifests and configs are small; anything bigger is not one. */
export const MAX_JSON_BYTES = 8 << 20;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  /** sha256:<hex>: the only algorithm accepted. */
  digest: string;
  hex: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}

const SHA256 = /^sha256:([0-9a-f]{64})$/;

function invalid(where: string, why: string): CellblockError {
  return new CellblockError('IMAGE_INVALID', `${where}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJson(bytes: Buffer, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(where, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(v)) throw invalid(where, 'not a JSON object');
  return v;
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw invalid(where, 'a descriptor is not an object');
  const { mediaType, digest, size, platform, annotations } = v;
  if (typeof digest !== 'string') throw invalid(where, 'a descriptor has no digest');
  const m = SHA256.exec(digest);
  if (m === null) throw invalid(where, `unsupported digest ${JSON.stringify(digest).slice(0, 80)} (only sha256:<64 hex> is accepted)`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(where, `bad size for ${digest}`);
  const d: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, hex: m[1] ?? '', size };
  if (isObject(platform) && typeof platform.os === 'string' && typeof platform.architecture === 'string') {
    d.platform = { os: platform.os, architecture: platform.architecture, ...(typeof platform.variant === 'string' && { variant: platform.variant }) };
  }
  if (isObject(annotations)) {
    d.annotations = Object.fromEntries(Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  return d;
}

/** 'index' for an image index / manifest list, 'manifest' for an image manifest. */
export function documentKind(doc: Record<string, unknown>, mediaTypeHeader: string | undefined, where: string): 'index' | 'manifest' {
  const mt = typeof doc.mediaType === 'string' ? doc.mediaType : (mediaTypeHeader ?? '').split(';')[0]?.trim() ?? '';
  if (mt === MEDIA.ociIndex || mt === MEDIA.dockerList) return 'index';
  if (mt === MEDIA.ociManifest || mt === MEDIA.dockerManifest) return 'manifest';
  if (Array.isArray(doc.manifests)) return 'index';
  if (Array.isArray(doc.layers) && isObject(doc.config)) return 'manifest';
  if (doc.schemaVersion === 1) throw invalid(where, 'a Docker schema 1 manifest (deprecated since 2017); push the image again with a current tool');
  throw invalid(where, `neither an image index nor a manifest (mediaType ${JSON.stringify(mt)})`);
}

export function parseIndex(doc: Record<string, unknown>, where: string): Descriptor[] {
  if (!Array.isArray(doc.manifests)) throw invalid(where, 'an index without "manifests"');
  return doc.manifests.map((m, i) => parseDescriptor(m, `${where} manifests[${i}]`));
}

export function parseManifest(doc: Record<string, unknown>, where: string): Manifest {
  const config = parseDescriptor(doc.config, `${where} config`);
  if (!Array.isArray(doc.layers)) throw invalid(where, 'a manifest without "layers"');
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${where} layers[${i}]`));
  for (const l of layers) {
    if (l.mediaType.includes('foreign')) throw invalid(where, `layer ${l.digest} is a foreign (Windows) layer; only Linux images run here`);
    if (!LAYER_TYPES.has(l.mediaType)) throw invalid(where, `layer ${l.digest} has the unsupported media type ${JSON.stringify(l.mediaType)}`);
  }
  return { config, layers };
}

/** The platform this host runs, in OCI terms (GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  const architecture = arch[process.arch] ?? process.arch;
  return { os: 'linux', architecture, ...(architecture === 'arm64' && { variant: 'v8' }) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ''}`;
}

/** The index entry for `want` (variant compared only when both name one). */
export function choosePlatform(manifests: readonly Descriptor[], where: string, want: Platform = hostPlatform()): Descriptor {
  const matches = manifests.filter((m) => m.platform !== undefined && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const exact = matches.find((m) => m.platform?.variant === undefined || want.variant === undefined || m.platform.variant === want.variant);
  if (exact !== undefined) return exact;
  const withoutPlatform = manifests.filter((m) => m.platform === undefined);
  if (withoutPlatform.length === 1 && withoutPlatform[0] !== undefined) return withoutPlatform[0];
  const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : '(no platform)')).join(', ');
  throw new CellblockError('IMAGE_NOT_FOUND', `${where} has no image for this host's platform ${formatPlatform(want)}; it offers: ${offered || 'nothing'}`);
}

/** rootfs.diff_ids of an image config, as hex; checked against the layers' count. */
export function diffIds(config: Record<string, unknown>, layers: number, where: string): string[] {
  const rootfs = config.rootfs;
  const ids = isObject(rootfs) && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : undefined;
  if (ids === undefined) throw invalid(where, 'the image config has no rootfs.diff_ids');
  if (ids.length !== layers) throw invalid(where, `the image config lists ${ids.length} layers, the manifest ${layers}`);
  return ids.map((id, i) => {
    const m = typeof id === 'string' ? SHA256.exec(id) : null;
    if (m === null) throw invalid(where, `rootfs.diff_ids[${i}] is not a sha256 digest`);
    return m[1] ?? '';
  });
}

/** Refuses configs for another OS (a Windows image cannot run here). */
export function checkOs(config: Record<string, unknown>, where: string): void {
  if (typeof config.os === 'string' && config.os !== 'linux') throw invalid(where, `the image is for ${config.os}; only linux images run here`);
}
