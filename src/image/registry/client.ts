// A client for the OCI distribution API, just what pulling needs: GET a manifest,
// GET a blob as a stream. A 401 is answered once per scheme as the registry's
// WWW-Authenticate asks (Basic, or a Bearer token from its realm), then the
// request is made again. The caller verifies every digest.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CellblockError, errorMessage } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { MANIFEST_ACCEPT, MAX_JSON_BYTES, type Descriptor } from '../oci.ts';
import { basicHeader, parseChallenge, type Credentials } from './auth.ts';
import { isLoopback, type RemoteRef } from './reference.ts';

export interface RegistryClientOptions {
  credentials?: Credentials;
  /** Where the credentials came from, for error messages. */
  credentialsSource?: string;
  /** Plain HTTP even for a registry that is not on loopback. */
  plainHttp?: boolean;
  log: Logger;
  fetch?: typeof fetch;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string | undefined;
  /** The Docker-Content-Digest header, when the registry sent one. */
  digestHeader: string | undefined;
}

export class RegistryClient {
  private readonly base: string;
  private authorization: string | undefined;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly ref: RemoteRef, private readonly opts: RegistryClientOptions) {
    const http = opts.plainHttp === true || isLoopback(ref.apiHost);
    this.base = `${http ? 'http' : 'https'}://${ref.apiHost}/v2/${ref.repository}`;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async manifest(reference: string): Promise<FetchedManifest> {
    const res = await this.get(`/manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, `manifest ${reference}`);
    const bytes = await readCapped(res, MAX_JSON_BYTES, `the manifest of ${this.ref.repository}:${reference}`);
    return { bytes, mediaType: res.headers.get('content-type') ?? undefined, digestHeader: res.headers.get('docker-content-digest') ?? undefined };
  }

  async blobBytes(d: Descriptor): Promise<Buffer> {
    const res = await this.get(`/blobs/${d.digest}`, {}, `blob ${d.digest}`);
    return readCapped(res, Math.min(d.size, MAX_JSON_BYTES), `blob ${d.digest}`);
  }

  async blobStream(d: Descriptor): Promise<Readable> {
    const res = await this.get(`/blobs/${d.digest}`, {}, `blob ${d.digest}`);
    if (res.body === null) return Readable.from([]);
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  }

  private async get(pathPart: string, headers: Record<string, string>, what: string): Promise<Response> {
    const tried = new Set<string>();
    for (;;) {
      const url = `${this.base}${pathPart}`;
      let res: Response;
      try {
        res = await this.fetchFn(url, { headers: { ...headers, ...(this.authorization !== undefined && { Authorization: this.authorization }) }, redirect: 'follow' });
      } catch (err) {
        throw new CellblockError('IMAGE_NOT_FOUND', `cannot reach the registry ${this.ref.apiHost} (${url}): ${errorMessage(err)}`, { cause: err });
      }
      if (res.status === 401) {
        await res.body?.cancel();
        const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
        const scheme = challenge?.scheme ?? '';
        if (challenge === undefined || tried.has(scheme)) throw this.authError(what);
        tried.add(scheme);
        await this.answer(challenge, what);
        continue;
      }
      if (res.status === 404) {
        await res.body?.cancel();
        throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}/${this.ref.repository}: no ${what} (404)`);
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}/${this.ref.repository}: ${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
      }
      return res;
    }
  }

  private authError(what: string): CellblockError {
    const how = this.opts.credentials === undefined
      ? `no credentials for ${this.ref.registry} were found${this.opts.credentialsSource ? ` in ${this.opts.credentialsSource}` : ''}; log in (e.g. \`skopeo login ${this.ref.registry}\`) or pass --authfile`
      : `the credentials for ${this.ref.registry}${this.opts.credentialsSource ? ` in ${this.opts.credentialsSource}` : ''} were refused`;
    return new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}/${this.ref.repository}: not authorized to pull ${what}: ${how}`);
  }

  private async answer(c: { scheme: string; params: Record<string, string> }, what: string): Promise<void> {
    const creds = this.opts.credentials;
    if (c.scheme === 'basic') {
      if (creds === undefined) throw this.authError(what);
      this.authorization = basicHeader(creds);
      return;
    }
    if (c.scheme !== 'bearer') throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost} asks for ${c.scheme} authentication, which cellblock does not speak (Basic and Bearer only)`);
    const realm = c.params.realm;
    if (realm === undefined) throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}: a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}: bad token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isLoopback(url.host) || this.opts.plainHttp === true))) {
      throw new CellblockError('IMAGE_NOT_FOUND', `${this.ref.apiHost}: refusing the token realm ${realm}: credentials only go over https (or to loopback)`);
    }
    if (c.params.service !== undefined) url.searchParams.set('service', c.params.service);
    url.searchParams.set('scope', c.params.scope ?? `repository:${this.ref.repository}:pull`);
    this.opts.log.debug({ realm: url.origin + url.pathname, service: c.params.service, anonymous: creds === undefined }, 'getting a registry token');
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers: creds !== undefined ? { Authorization: basicHeader(creds) } : {} });
    } catch (err) {
      throw new CellblockError('IMAGE_NOT_FOUND', `cannot reach the token server ${url.origin}: ${errorMessage(err)}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw this.authError(what);
    }
    if (!res.ok) throw new CellblockError('IMAGE_NOT_FOUND', `the token server ${url.origin} answered HTTP ${res.status}`);
    const body = JSON.parse((await readCapped(res, 1 << 20, 'the token response')).toString('utf8')) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined || token === '') throw new CellblockError('IMAGE_NOT_FOUND', `the token server ${url.origin} sent no token`);
    this.authorization = `Bearer ${token}`;
  }
}

async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel();
    throw new CellblockError('IMAGE_INVALID', `${what} is ${len} bytes, more than the ${max} allowed`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > max) throw new CellblockError('IMAGE_INVALID', `${what} is more than the ${max} bytes allowed`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
