// `cellblock serve`: the HTTP API (src/api/) until SIGINT/SIGTERM. It talks only to
// Redis, so it runs anywhere and as many times as wanted, workers or not.
import { readFileSync } from 'node:fs';
import { configHelp } from '../config.ts';
import { startApiServer } from '../api/server.ts';
import { CellblockClient } from '../queue/client.ts';
import { describeTarget, pingRedis, redisTargetFrom } from '../queue/connection.ts';
import { configFrom, EXIT_OK, loggerFor, onShutdownSignals, parseCommandArgs, UsageError, type Command } from './common.ts';

const help = `Usage: cellblock serve [options]

Serves the HTTP API on --api-host:--api-port until SIGINT or SIGTERM:
  POST   /jobs[?wait=true&timeoutMs=N&priority=N]   enqueue a JobSpec (JSON body)
  GET    /jobs/ID[?wait=true&timeoutMs=N]           status, and the result when done
  DELETE /jobs/ID[?wait=true&timeoutMs=N]           cancel: removed if queued, killed if running
  GET    /health                                    200 while Redis answers
  GET    /openapi.json                              the API as OpenAPI 3.1
With CELLBLOCK_API_TOKEN set, every route but /health and /openapi.json needs
"Authorization: Bearer TOKEN". See README.md, "HTTP API".

Options:
${configHelp()}`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {}, false);
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const config = configFrom(values);
  const log = loggerFor(config);
  const redis = redisTargetFrom(config);
  await pingRedis(redis);

  const client = new CellblockClient({ redis, queueName: config.queueName, log });
  const signals = onShutdownSignals((_count, signal) => {
    log.error({ signal }, 'second signal: exiting at once');
    process.exit(130);
  });
  try {
    const { app, url } = await startApiServer({ client, token: config.apiToken, log, port: config.apiPort, host: config.apiHost, version: version() });
    log.info({ url, queue: config.queueName, redis: describeTarget(redis), auth: config.apiToken !== '' }, 'HTTP API ready');
    if (config.apiToken === '' && config.apiHost !== '127.0.0.1' && config.apiHost !== '::1' && config.apiHost !== 'localhost') {
      log.warn({ host: config.apiHost }, 'the API listens beyond loopback without a token (CELLBLOCK_API_TOKEN): anyone who reaches it can run jobs');
    }
    const signal = await signals.first;
    log.info({ signal }, 'stopping: waiting requests answer now');
    await app.close();
  } finally {
    signals.dispose();
    await client.close();
  }
  log.info('HTTP API stopped');
  return EXIT_OK;
}

export const command: Command = { summary: 'serve the HTTP API (enqueue, inspect, cancel jobs)', help, main };
