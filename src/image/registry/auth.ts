// Registry credentials and the distribution spec's auth handshake: a 401 carries
// `WWW-Authenticate: Basic realm=...` (send the password on every request) or
// `Bearer realm=...,service=...,scope=...` (ask the realm for a token, with the
// password if there is one, then send the token). Credentials come from a
// docker-style config.json ("auths": {"host": {"auth": base64("user:pass")}}).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CellblockError, errorMessage } from '../../errors.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The docker config file to read: explicit, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json. */
export function authFilePath(explicit?: string): string {
  if (explicit !== undefined) return explicit;
  if (process.env.REGISTRY_AUTH_FILE) return process.env.REGISTRY_AUTH_FILE;
  if (process.env.DOCKER_CONFIG) return path.join(process.env.DOCKER_CONFIG, 'config.json');
  return path.join(os.homedir(), '.docker', 'config.json');
}

/** Credentials for `registry` in `file`, if any (a missing file means anonymous). */
export function findCredentials(file: string, registry: string, mustExist = false): Credentials | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (mustExist) throw new CellblockError('INVALID_CONFIG', `cannot read the registry auth file ${file}: ${errorMessage(err)}`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CellblockError('INVALID_CONFIG', `${file} is not JSON; want a docker config file with "auths"`);
  }
  const auths = typeof doc === 'object' && doc !== null ? (doc as { auths?: unknown }).auths : undefined;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const keys = registry === 'docker.io'
    ? ['docker.io', 'https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io']
    : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  for (const key of keys) {
    const entry = (auths as Record<string, unknown>)[key];
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as { auth?: unknown; username?: unknown; password?: unknown };
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw new CellblockError('INVALID_CONFIG', `${file}: the "auth" for ${key} is not base64("user:password")`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (typeof e.username === 'string' && typeof e.password === 'string') return { username: e.username, password: e.password };
  }
  return undefined;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** Parses a WWW-Authenticate header: `Scheme k="v", k2=v2` (the first challenge). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== '') {
    params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}
