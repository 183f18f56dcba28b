// Remote image references as Docker writes them: [HOST[:PORT]/]PATH[:TAG][@sha256:HEX].
// A first component with a "." or ":" (or "localhost") is a registry host;
// otherwise the image is on Docker Hub, and a one-component path is in library/.
import { CellblockError } from '../../errors.ts';
import { digestHex } from '../ref.ts';

export interface RemoteRef {
  /** As written in credentials files: host[:port] ("docker.io" for Docker Hub). */
  registry: string;
  /** Where the API is: host[:port] (registry-1.docker.io for Docker Hub). */
  apiHost: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;

function invalid(ref: string, why: string): CellblockError {
  return new CellblockError('IMAGE_INVALID', `invalid image reference ${JSON.stringify(ref)}: ${why} (want [HOST[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST])`);
}

export function parseRemoteRef(ref: string): RemoteRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digestHex(digest) === undefined) throw invalid(ref, 'the digest must be sha256: and 64 lowercase hex digits');
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw invalid(ref, `bad registry host ${JSON.stringify(registry)}`);
  }
  let tag: string | undefined;
  const last = parts[parts.length - 1] ?? '';
  const colon = last.indexOf(':');
  if (colon !== -1) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `bad tag ${JSON.stringify(tag)}`);
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  for (const p of parts) if (!COMPONENT.test(p)) throw invalid(ref, `bad repository component ${JSON.stringify(p)}`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    registry,
    apiHost: registry === 'docker.io' ? 'registry-1.docker.io' : registry,
    repository: parts.join('/'),
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/** The local name a pulled image gets unless told: the repository (without library/) and tag. */
export function defaultLocalName(r: RemoteRef): string {
  const repo = r.registry === 'docker.io' && r.repository.startsWith('library/') ? r.repository.slice('library/'.length) : r.repository;
  const tag = r.tag ?? `sha256-${(r.digest ?? '').slice('sha256:'.length, 'sha256:'.length + 12)}`;
  return `${repo}:${tag.toLowerCase()}`;
}

/** Loopback registries speak plain HTTP, as Docker allows by default; others HTTPS. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/:[0-9]+$/, '');
  return h === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '[::1]';
}
