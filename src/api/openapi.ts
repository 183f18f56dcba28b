// The API described as OpenAPI 3.1, served at GET /openapi.json. The JobSpec schema
// is generated from the zod schema the server (and every worker) validates with.
import { z } from 'zod';
import { JobSpecSchema } from '../job/spec.ts';
import { VERDICTS } from '../job/result.ts';
import { API_STATUSES } from './status.ts';

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const error = (description: string): Json => json(ref('Error'), description);
const idParam: Json = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const waitParams: Json[] = [
  { name: 'wait', in: 'query', schema: { type: 'boolean', default: false }, description: 'wait for the job to finish before answering' },
  { name: 'timeoutMs', in: 'query', schema: { type: 'integer', minimum: 1 }, description: 'how long to wait (capped by the server)' },
];

export function openApiDocument(version: string): Json {
  // Input side: fields with defaults are optional, as a producer writes them.
  const { $schema: _drop, ...jobSpec } = z.toJSONSchema(JobSpecSchema, { io: 'input' }) as Json;
  return {
    openapi: '3.1.0',
    info: { title: 'cellblock', version, description: 'Sandboxed job execution: enqueue a JobSpec, read its JobResult, cancel it.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        JobSpec: jobSpec,
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', examples: ['INVALID_JOB', 'JOB_NOT_FOUND', 'UNAUTHORIZED'] }, message: { type: 'string' } },
        },
        JobResult: {
          type: 'object',
          description: 'See src/job/result.ts',
          required: ['jobId', 'verdict', 'exitCode', 'signal', 'stdout', 'stderr', 'stats', 'timings', 'image'],
          properties: {
            jobId: { type: 'string' },
            verdict: { type: 'string', enum: [...VERDICTS] },
            message: { type: 'string' },
            exitCode: { type: ['integer', 'null'] },
            signal: { type: ['string', 'null'] },
            stdout: { type: 'string' },
            stderr: { type: 'string' },
            stdoutTruncated: { type: 'boolean' },
            stderrTruncated: { type: 'boolean' },
            stats: { type: 'object' },
            timings: { type: 'object' },
            image: { type: 'object', properties: { name: { type: 'string' }, digest: { type: 'string' } } },
            worker: { type: 'string' },
            tenant: { type: 'string' },
            attempt: { type: 'integer' },
          },
        },
        Job: {
          type: 'object',
          required: ['id', 'status', 'createdAt'],
          properties: {
            id: { type: 'string' },
            status: { type: 'string', enum: [...API_STATUSES] },
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: { type: 'string', format: 'date-time' },
            finishedAt: { type: 'string', format: 'date-time' },
            result: ref('JobResult'),
            reason: { type: 'string' },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/jobs': {
        post: {
          summary: 'Enqueue a job',
          parameters: [...waitParams, { name: 'priority', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 2 ** 21 } }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('JobSpec') } } },
          responses: {
            '201': json(ref('Job'), 'Enqueued (without wait)'),
            '200': json(ref('Job'), 'Finished (with wait): status done or failed'),
            '202': json(ref('Job'), 'Not finished when the wait ended'),
            '400': error('Invalid JobSpec (code INVALID_JOB) or query'),
            '401': error('Missing or wrong bearer token'),
          },
        },
      },
      '/jobs/{id}': {
        get: {
          summary: 'A job: status, and result when done',
          parameters: [idParam, ...waitParams],
          responses: { '200': json(ref('Job'), 'The job'), '202': json(ref('Job'), 'Not finished when the wait ended'), '404': error('No such job (JOB_NOT_FOUND)') },
        },
        delete: {
          summary: 'Cancel a job: a queued one is removed, a running one is killed and completes with verdict CANCELLED',
          parameters: [idParam, ...waitParams],
          responses: {
            '200': json({ type: 'object' }, 'Removed from the queue, already finished, or (with wait) the cancelled job'),
            '202': json({ type: 'object' }, 'Its worker was asked to kill it'),
            '404': error('No such job (JOB_NOT_FOUND)'),
          },
        },
      },
      '/health': { get: { summary: 'Redis reachable', security: [], responses: { '200': { description: 'ok' }, '503': error('Redis unreachable') } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  };
}
