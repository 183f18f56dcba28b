// `cellblock image pull`: manifest (an index picks this host's platform), config
// and layers from a registry, each checked against its digest before the image
// is renamed into the store. An image whose config digest is already extracted
// downloads no layer at all.
import { createHash } from 'node:crypto';
import { CellblockError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { LayeredImage } from './archive.ts';
import { fromOciConfig } from './config.ts';
import { checkOs, choosePlatform, diffIds, documentKind, parseIndex, parseJson, parseManifest, type Descriptor } from './oci.ts';
import { noProgress, type Progress } from './progress.ts';
import { parseImageName } from './ref.ts';
import { authFilePath, findCredentials } from './registry/auth.ts';
import { RegistryClient } from './registry/client.ts';
import { defaultLocalName, parseRemoteRef } from './registry/reference.ts';
import type { ImageStore } from './store.ts';
import type { ResolvedImage } from './types.ts';

export interface PullOptions {
  /** Local name[:tag]; default: the repository and tag (see defaultLocalName). */
  name?: string;
  /** A docker-style config.json with "auths"; default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG, ~/.docker. */
  authFile?: string;
  plainHttp?: boolean;
  allowSetuid?: boolean;
  progress?: Progress;
  log?: Logger;
  fetch?: typeof fetch;
}

export interface PullResult {
  image: ResolvedImage;
  /** The manifest digest the registry served (what `repo@sha256:...` pins). */
  manifestDigest: string;
  /** False when the image was already extracted and nothing was downloaded. */
  downloaded: boolean;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function pullImage(store: ImageStore, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseRemoteRef(reference);
  const localName = opts.name ?? defaultLocalName(ref);
  const local = parseImageName(localName);
  const log = (opts.log ?? silentLogger).child({ pull: reference });
  const progress = opts.progress ?? noProgress;
  const authFile = authFilePath(opts.authFile);
  const credentials = findCredentials(authFile, ref.registry, opts.authFile !== undefined);
  const client = new RegistryClient(ref, {
    ...(credentials !== undefined && { credentials }),
    credentialsSource: authFile,
    ...(opts.plainHttp !== undefined && { plainHttp: opts.plainHttp }),
    log,
    ...(opts.fetch !== undefined && { fetch: opts.fetch }),
  });
  const where = `${ref.registry}/${ref.repository}`;

  // By digest when pinned: the registry cannot then serve anything else.
  const wanted = ref.digest ?? ref.tag ?? 'latest';
  let fetched = await client.manifest(wanted);
  let digest = `sha256:${sha256(fetched.bytes)}`;
  checkDigest(digest, ref.digest, fetched.digestHeader, `${where}:${wanted}`);
  let doc = parseJson(fetched.bytes, `${where} manifest`);
  const manifestDigest = digest;
  if (documentKind(doc, fetched.mediaType, where) === 'index') {
    const chosen: Descriptor = choosePlatform(parseIndex(doc, `${where} index`), `${where}:${wanted}`);
    log.debug({ platform: chosen.platform, digest: chosen.digest }, 'picked the manifest for this platform');
    fetched = await client.manifest(chosen.digest);
    digest = `sha256:${sha256(fetched.bytes)}`;
    checkDigest(digest, chosen.digest, fetched.digestHeader, `${where}@${chosen.digest}`);
    doc = parseJson(fetched.bytes, `${where} manifest ${chosen.digest}`);
    if (documentKind(doc, fetched.mediaType, where) !== 'manifest') throw new CellblockError('IMAGE_INVALID', `${where}: index entry ${chosen.digest} is not an image manifest`);
  }
  const manifest = parseManifest(doc, `${where} manifest ${digest}`);

  if (store.hasDigest(manifest.config.digest)) {
    log.info({ digest: manifest.config.digest }, 'image already extracted; nothing to download');
    return { image: await store.tag(manifest.config.digest, localName), manifestDigest, downloaded: false };
  }

  const configBytes = await client.blobBytes(manifest.config);
  if (configBytes.length !== manifest.config.size || sha256(configBytes) !== manifest.config.hex) {
    throw new CellblockError('IMAGE_INVALID', `${where}: the config blob does not match its digest ${manifest.config.digest}`);
  }
  const rawConfig = parseJson(configBytes, `${where} config`);
  checkOs(rawConfig, where);
  const ids = diffIds(rawConfig, manifest.layers.length, `${where} config`);
  const image: LayeredImage = {
    hex: manifest.config.hex,
    config: fromOciConfig(rawConfig, `${where} config`),
    source: `${where}@${digest}`,
    manifestDigest: digest,
    ...(typeof rawConfig.architecture === 'string' && { architecture: rawConfig.architecture }),
    layers: manifest.layers.map((l, i) => ({
      what: `layer ${i + 1}/${manifest.layers.length} ${l.digest.slice(0, 19)}`,
      open: () => client.blobStream(l),
      digestHex: l.hex,
      size: l.size,
      diffIdHex: ids[i] ?? '',
    })),
  };
  const resolved = await store.importLayered(image, { ...local, kind: 'registry' }, {
    progress,
    ...(opts.allowSetuid !== undefined && { allowSetuid: opts.allowSetuid }),
  });
  return { image: resolved, manifestDigest, downloaded: true };
}

function checkDigest(actual: string, expected: string | undefined, header: string | undefined, what: string): void {
  if (expected !== undefined && actual !== expected) {
    throw new CellblockError('IMAGE_INVALID', `${what}: the registry sent a manifest with digest ${actual}, not ${expected}`);
  }
  if (header !== undefined && header.startsWith('sha256:') && header !== actual) {
    throw new CellblockError('IMAGE_INVALID', `${what}: the manifest's digest ${actual} does not match the registry's Docker-Content-Digest ${header}`);
  }
}
