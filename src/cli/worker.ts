// `cellblock worker`: take jobs from the queue until SIGINT/SIGTERM, then finish the
// running ones and leave.
import { configHelp, redactUrl } from '../config.ts';
import { CellblockWorker } from '../queue/worker.ts';
import { pingRedis } from '../queue/connection.ts';
import { configFrom, EXIT_OK, loggerFor, onShutdownSignals, runnerFor, parseCommandArgs, stringFlag, UsageError, type Command } from './common.ts';

const help = `Usage: cellblock worker [--concurrency N] [options]

Runs jobs from the Redis queue, each in a fresh sandbox, until SIGINT or SIGTERM.
The first signal stops taking jobs and waits for the running ones; a second one
kills the running sandboxes (their jobs fail as cancelled); a third exits at once.

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

  await pingRedis(config.redisUrl);
  const runner = await runnerFor(config, log);
  let worker: CellblockWorker;
  try {
    worker = await CellblockWorker.start({
      redisUrl: config.redisUrl,
      queueName: config.queueName,
      runner,
      workerId: config.workerId,
      concurrency: config.concurrency,
      log,
    });
  } catch (err) {
    await runner.close();
    throw err;
  }

  const signals = onShutdownSignals((count, signal) => {
    if (count === 2) {
      log.warn({ signal }, 'second signal: killing running jobs');
      worker.cancelAll('worker shutting down');
    } else {
      log.error({ signal }, 'third signal: exiting without cleanup');
      process.exit(130);
    }
  });
  log.info(
    { queue: config.queueName, concurrency: config.concurrency, redis: redactUrl(config.redisUrl), stateDir: config.stateDir },
    'worker ready',
  );
  const signal = await signals.first;
  log.info({ signal }, 'stopping: waiting for running jobs (signal again to kill them)');
  try {
    await worker.close();
  } finally {
    signals.dispose();
  }
  log.info('worker stopped');
  return EXIT_OK;
}

export const command: Command = { summary: 'run jobs from the queue until stopped', help, main };
