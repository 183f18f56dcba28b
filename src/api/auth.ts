// Optional bearer-token auth for the HTTP API (RFC 6750). Pure functions.
import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * Whether the header carries the expected token. Compared in constant time over
 * SHA-256 digests: equal lengths for timingSafeEqual, and the token's length does
 * not leak either.
 */
export function authorized(header: string | undefined, expected: string): boolean {
  const given = bearerToken(header);
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
