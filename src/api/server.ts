// The HTTP API (`cellblock serve`): enqueue, inspect and cancel jobs over HTTP. It
// talks only to Redis (through CellblockClient), so any number of API servers and
// workers can run side by side. Bodies are validated with parseJobSpec, the same
// check every worker makes, so an error reads the same wherever it is caught.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidJobError, type JobSpecInput } from '../job/spec.ts';
import { silentLogger, type Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import type { CellblockClient } from '../queue/client.ts';
import { QueueError } from '../queue/errors.ts';
import { authorized } from './auth.ts';
import { openApiDocument } from './openapi.ts';
import { jobView, type JobView } from './status.ts';

export interface ApiServerOptions {
  /** Owned by the caller: the server never closes it. */
  client: CellblockClient;
  /** Require `Authorization: Bearer <token>` on every route but /health and /openapi.json; '' or absent: none. */
  token?: string;
  log?: Logger;
  /** Largest request body (a JobSpec with its files); default 16 MiB. */
  bodyLimitBytes?: number;
  /** `?wait=true` waits this long unless `timeoutMs` says otherwise; default 30 s. */
  defaultWaitMs?: number;
  /** The cap on `timeoutMs`; default 5 min. */
  maxWaitMs?: number;
  /** Reported in /openapi.json. */
  version?: string;
}

/** An error for the caller, sent as `{ code, message }` with this HTTP status. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const booleanParam = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1' || v === '');
const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const QuerySchema = z.object({
  wait: booleanParam.optional(),
  timeoutMs: intParam(1, 24 * 3600 * 1000).optional(),
  priority: intParam(1, 2 ** 21).optional(),
});
type Query = z.output<typeof QuerySchema>;

function parseQuery(query: unknown): Query {
  const parsed = QuerySchema.safeParse(query);
  if (!parsed.success) {
    throw new ApiError(400, 'BAD_REQUEST', `invalid query: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Fastify's own request errors, as our codes. */
function codeOf(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'INVALID_JSON';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'EMPTY_BODY';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'BODY_TOO_LARGE';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'UNSUPPORTED_MEDIA_TYPE';
    default:
      return 'BAD_REQUEST';
  }
}

const HEALTH_TIMEOUT_MS = 1000;

/** The app, not yet listening: `app.listen({ port: 0 })` in tests, or startApiServer(). */
export function buildApiServer(opts: ApiServerOptions): FastifyInstance {
  const { client } = opts;
  const log = opts.log ?? silentLogger;
  const token = opts.token ?? '';
  const defaultWaitMs = opts.defaultWaitMs ?? 30_000;
  const maxWaitMs = opts.maxWaitMs ?? 300_000;
  const openapi = openApiDocument(opts.version ?? '0.0.0');
  // Aborted as the server closes: requests waiting for a job answer with what there is.
  const closing = new AbortController();

  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes ?? 16 * 1024 * 1024, return503OnClosing: true });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (token === '' || path === '/health' || path === '/openapi.json') return;
    if (!authorized(req.headers.authorization, token)) {
      void reply.header('www-authenticate', 'Bearer realm="cellblock"');
      throw new ApiError(401, 'UNAUTHORIZED', 'this server needs "Authorization: Bearer <token>" with the right token');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    log.info({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  app.addHook('preClose', async () => {
    closing.abort();
  });

  app.setErrorHandler((err: FastifyError | ApiError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) return reply.status(err.status).send({ code: err.code, message: err.message });
    if (err instanceof InvalidJobError) return reply.status(400).send({ code: err.code, message: err.message });
    if (err instanceof QueueError && err.code === 'JOB_NOT_FOUND') return reply.status(404).send({ code: err.code, message: err.message });
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return reply.status(status).send({ code: codeOf(err as FastifyError), message: err.message });
    log.error({ method: req.method, url: req.url.split('?')[0], err: errorMessage(err) }, 'request failed');
    return reply.status(500).send({ code: 'INTERNAL', message: 'internal error; see the server log' });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  /** The job as the API shows it; 404 when there is none. */
  const view = async (id: string): Promise<JobView> => {
    const info = await client.inspect(id);
    const v = info === undefined ? undefined : jobView(info);
    if (v === undefined) throw new ApiError(404, 'JOB_NOT_FOUND', `job ${id} is not in queue ${client.queueName} (never added, or removed)`);
    return v;
  };

  /** Wait until the job finishes, the wait is over or the server closes; never throws for the job's own fate. */
  const waitFor = async (id: string, q: Query): Promise<void> => {
    const ms = Math.min(q.timeoutMs ?? defaultWaitMs, maxWaitMs);
    let onClose: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      onClose = resolve;
      closing.signal.addEventListener('abort', onClose, { once: true });
    });
    try {
      await Promise.race([client.result(id, ms).catch(() => undefined), closed]);
    } finally {
      closing.signal.removeEventListener('abort', onClose);
    }
  };

  const settled = (v: JobView): number => (v.status === 'done' || v.status === 'failed' ? 200 : 202);

  app.get('/health', async (_req, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
        }),
      ]);
      return { status: 'ok', queue: client.queueName };
    } catch (err) {
      return reply.status(503).send({ code: 'REDIS_UNAVAILABLE', message: `Redis does not answer: ${errorMessage(err)}` });
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/openapi.json', async () => openapi);

  app.post('/jobs', async (req, reply) => {
    const q = parseQuery(req.query);
    // submit() validates with parseJobSpec, as every worker does: InvalidJobError becomes a 400.
    const id = await client.submit(req.body as JobSpecInput, q.priority !== undefined ? { priority: q.priority } : {});
    void reply.header('location', `/jobs/${encodeURIComponent(id)}`);
    if (q.wait !== true) return reply.status(201).send({ id, status: 'queued' });
    await waitFor(id, q);
    const v = await view(id);
    return reply.status(settled(v)).send(v);
  });

  app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
    const q = parseQuery(req.query);
    const { id } = req.params;
    const v = await view(id);
    if (q.wait !== true || settled(v) === 200) return v;
    await waitFor(id, q);
    const after = await view(id);
    return reply.status(settled(after)).send(after);
  });

  app.delete<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
    const q = parseQuery(req.query);
    const { id } = req.params;
    const outcome = await client.cancel(id);
    if (outcome === 'removed') return { id, outcome };
    if (outcome === 'cancelling' && q.wait === true) await waitFor(id, q);
    const v = await view(id);
    return reply.status(settled(v)).send({ id, outcome, job: v });
  });

  return app;
}

/** Build and listen; returns the app (close it to stop) and the address it got. */
export async function startApiServer(opts: ApiServerOptions & { port: number; host: string }): Promise<{ app: FastifyInstance; url: string }> {
  const app = buildApiServer(opts);
  const url = await app.listen({ port: opts.port, host: opts.host });
  return { app, url };
}
