// `cellblock worker`: take jobs from the queue until SIGINT/SIGTERM, then finish the
// running ones (for a grace period) and leave.
import { configHelp } from '../config.ts';
import { WorkerMetrics } from '../metrics/registry.ts';
import { MetricsServer } from '../metrics/server.ts';
import { CellblockWorker } from '../queue/worker.ts';
import { describeTarget, pingRedis, redisTargetFrom } from '../queue/connection.ts';
import { configFrom, EXIT_OK, loggerFor, onShutdownSignals, preparedFor, runnerFor, parseCommandArgs, stringFlag, UsageError, type Command } from './common.ts';

const help = `Usage: cellblock worker [--concurrency N] [options]

Runs jobs from the Redis queue, each in a fresh sandbox, until SIGINT or SIGTERM.
The first signal stops taking jobs and lets the running ones finish for the grace
period (--shutdown-grace-ms); then they are killed and go back to the queue to run
again elsewhere. A second signal kills them at once; a third exits without cleanup.
Exits 0 after a graceful stop.

Options:
  --concurrency N   jobs at once (CELLBLOCK_CONCURRENCY; default: number of cores)
${configHelp()}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { concurrency: { type: 'string' } }, false);
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const config = configFrom(values, { concurrency: stringFlag(values, 'concurrency') });
  const log = loggerFor(config);
  const redis = redisTargetFrom(config);

  await pingRedis(redis);
  const runner = await runnerFor(config, log, preparedFor(config));
  const metrics = new WorkerMetrics({ worker: config.workerId, queue: config.queueName });
  // Handlers first: a job may start the moment the worker exists, and a signal
  // then must stop it gracefully, not end the process.
  let worker: CellblockWorker | undefined;
  const signals = onShutdownSignals((count, signal) => {
    if (count === 2) {
      log.warn({ signal }, 'second signal: killing running jobs');
      worker?.cancelAll('worker shutting down');
    } else {
      log.error({ signal }, 'third signal: exiting without cleanup');
      process.exit(130);
    }
  });
  try {
    worker = await CellblockWorker.start({
      redis,
      queueName: config.queueName,
      runner,
      workerId: config.workerId,
      concurrency: config.concurrency,
      lockMs: config.lockMs,
      tenantMaxRunning: config.tenantMaxRunning,
      rateLimit: { max: config.rateMax, durationMs: config.rateDurationMs },
      metrics,
      ...(config.resultsDir !== '' ? { resultsDir: config.resultsDir } : {}),
      log,
    });
  } catch (err) {
    signals.dispose();
    await runner.close();
    throw err;
  }
  const server = config.metricsPort > 0 ? await MetricsServer.listen(metrics.registry, worker, config.metricsPort, config.metricsHost) : undefined;
  log.info(
    { queue: config.queueName, concurrency: config.concurrency, redis: describeTarget(redis), stateDir: config.stateDir, metricsPort: server?.port },
    'worker ready',
  );
  const signal = await signals.first;
  log.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: running jobs may finish within the grace period (signal again to kill them)');
  try {
    await worker.shutdown(config.shutdownGraceMs);
  } finally {
    signals.dispose();
    await server?.close();
  }
  log.info('worker stopped');
  return EXIT_OK;
}

export const command: Command = { summary: 'run jobs from the queue until stopped', help, main };
