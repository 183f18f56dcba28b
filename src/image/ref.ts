// Image references (`name`, `name:tag`, `sha256:<hex>`) and the rules names obey.
// A name becomes a path under refs/, so these checks are what keep a reference
// from reaching outside the store.
import { CellblockError } from '../errors.ts';

export const DEFAULT_TAG = 'latest';

export type ImageRef =
  | { kind: 'name'; name: string; tag: string }
  | { kind: 'digest'; digest: string; hex: string };

// Components and tags may not start with '.', which rules out '.', '..' and the
// dot-files the store uses for its own temporaries.
const COMPONENT = /^[a-z0-9_][a-z0-9._-]*$/;
const TAG = /^[a-z0-9_][a-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:([0-9a-f]{64})$/;
const MAX_NAME = 255;

const RULES = 'names are lowercase [a-z0-9._-] components separated by "/", with an optional ":tag"';

function invalid(ref: string, why: string): CellblockError {
  return new CellblockError('IMAGE_INVALID', `invalid image reference ${JSON.stringify(ref)}: ${why} (${RULES}, or sha256:<64 hex>)`);
}

/** The hex part of a `sha256:<hex>` digest, or undefined if `s` is not one. */
export function digestHex(s: string): string | undefined {
  return DIGEST.exec(s)?.[1];
}

export function validateName(name: string, ref: string = name): void {
  if (name.length === 0 || name.length > MAX_NAME) throw invalid(ref, `name must be 1 to ${MAX_NAME} characters`);
  if (name.includes('..')) throw invalid(ref, 'name may not contain ".."');
  for (const part of name.split('/')) {
    if (!COMPONENT.test(part)) throw invalid(ref, `bad name component ${JSON.stringify(part)}`);
  }
}

export function validateTag(tag: string, ref: string = tag): void {
  if (!TAG.test(tag)) throw invalid(ref, `bad tag ${JSON.stringify(tag)}`);
}

/** Parses and validates a reference; throws IMAGE_INVALID with the naming rules. */
export function parseImageRef(ref: string): ImageRef {
  if (ref.startsWith('sha256:')) {
    const hex = digestHex(ref);
    if (hex === undefined) throw invalid(ref, 'a digest is sha256: followed by 64 lowercase hex digits');
    return { kind: 'digest', digest: ref, hex };
  }
  const colon = ref.lastIndexOf(':');
  const name = colon === -1 ? ref : ref.slice(0, colon);
  const tag = colon === -1 ? DEFAULT_TAG : ref.slice(colon + 1);
  validateName(name, ref);
  validateTag(tag, ref);
  return { kind: 'name', name, tag };
}

/** Parses a reference that must be a name (imports cannot be addressed by digest). */
export function parseImageName(ref: string): { name: string; tag: string } {
  const parsed = parseImageRef(ref);
  if (parsed.kind === 'digest') throw invalid(ref, 'an image is named, not addressed by digest, when imported');
  return { name: parsed.name, tag: parsed.tag };
}
