// Writes OCI image layouts (image-spec image-layout.md) for tests: layers as
// given (tar bytes, gzipped or not), a config with the job defaults to test, a
// manifest and index.json. skopeo turns these into docker-archive, oci-archive
// and registry images, so the formats under test come from a real tool.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface FixtureLayer {
  tar: Buffer;
  gzip?: boolean;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Writes the layout at `dir`; returns the config digest (the image id the store keys it by). */
export function writeOciLayout(dir: string, layers: readonly FixtureLayer[], config: Record<string, unknown>, refName = 'v1'): string {
  mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer): string => {
    const hex = sha(b);
    writeFileSync(path.join(dir, 'blobs/sha256', hex), b);
    return hex;
  };
  const descs = layers.map((l) => {
    const blob = l.gzip === true ? gzipSync(l.tar) : l.tar;
    return { mediaType: `application/vnd.oci.image.layer.v1.tar${l.gzip === true ? '+gzip' : ''}`, digest: `sha256:${put(blob)}`, size: blob.length };
  });
  const configBytes = Buffer.from(JSON.stringify({
    architecture: hostArch(), os: 'linux', config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l.tar)}`) },
  }));
  const configHex = put(configBytes);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: configBytes.length },
    layers: descs,
  }));
  const manifestHex = put(manifest);
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${manifestHex}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
  return `sha256:${configHex}`;
}

export function hostArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
}

/**
 * Turns the layout's one image into a two-platform image index: this host's
 * platform and s390x (same layers, its own config), as a multi-arch image has.
 */
export function makeMultiPlatform(dir: string, refName = 'v1'): void {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const hostDesc = index.manifests[0];
  if (hostDesc === undefined) throw new Error('empty layout');
  const blob = (d: string): Buffer => readFileSync(path.join(dir, 'blobs/sha256', d.slice('sha256:'.length)));
  const manifest = JSON.parse(blob(hostDesc.digest).toString()) as { config: { digest: string; size: number } };
  const otherConfig = Buffer.from(JSON.stringify({ ...JSON.parse(blob(manifest.config.digest).toString()), architecture: 's390x' }));
  const put = (b: Buffer): string => {
    const hex = sha(b);
    writeFileSync(path.join(dir, 'blobs/sha256', hex), b);
    return `sha256:${hex}`;
  };
  const otherManifest = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: put(otherConfig), size: otherConfig.length } }));
  const mt = 'application/vnd.oci.image.manifest.v1+json';
  const idx = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: mt, digest: put(otherManifest), size: otherManifest.length, platform: { os: 'linux', architecture: 's390x' } },
      { mediaType: mt, digest: hostDesc.digest, size: hostDesc.size, platform: { os: 'linux', architecture: hostArch() } },
    ],
  }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: put(idx), size: idx.length, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
}
