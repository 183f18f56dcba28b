// `cellblock submit`: put one job (or an array of jobs) on the queue; print the ids,
// or with --wait the JobResults.
import { configHelp } from '../config.ts';
import { CellblockClient } from '../queue/client.ts';
import { pingRedis, redisTargetFrom } from '../queue/connection.ts';
import { QueueError } from '../queue/errors.ts';
import { parseJobSpec, type JobSpecInput } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import { stripDemoFields } from './demo-jobs.ts';
import { configFrom, EXIT_FAILURE, EXIT_OK, intFlag, loggerFor, parseCommandArgs, quietUnlessAsked, readJson, stringFlag, UsageError, type Command } from './common.ts';

const help = `Usage: cellblock submit [--wait] [--timeout-ms N] [--priority N] [--job-id ID] FILE.json|-

Validates a JobSpec (JSON; "-" reads standard input) and adds it to the queue.
A JSON array submits every element (all are validated before any is added).
Prints the job id (one per line), or with --wait the JobResult as JSON (an array
for an array). Demo files' "expect*" and "description" fields are ignored.

Exit status: 0 when submitted (with --wait: when every job produced a result,
whatever its verdict), 1 when a job failed in the queue or the wait timed out.

Options:
  --wait            wait for the result(s) and print them
  --timeout-ms N    how long --wait waits (default 600000)
  --priority N      1 (highest) .. 2097152; jobs without a priority go first
  --job-id ID       custom BullMQ job id (single job only; not an integer, no ':')
${configHelp()}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    wait: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
    priority: { type: 'string' },
    'job-id': { type: 'string' },
  });
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one FILE.json (or - for standard input)');
  const file = positionals[0] ?? '-';
  const timeoutMs = intFlag(values, 'timeout-ms') ?? 600_000;
  const priority = intFlag(values, 'priority');
  const jobId = stringFlag(values, 'job-id');

  const data = await readJson(file);
  const many = Array.isArray(data);
  const specs = (many ? data : [data]).map((d) => stripDemoFields(d).spec as JobSpecInput);
  if (many && jobId !== undefined) throw new UsageError('--job-id names one job; the file holds an array');
  // Validate before touching Redis: a typo should not need a running server to show.
  specs.forEach((s, i) => {
    try {
      parseJobSpec(s);
    } catch (err) {
      if (many && err instanceof Error) err.message = `job ${i}: ${err.message}`;
      throw err;
    }
  });

  const config = configFrom(values, quietUnlessAsked(values));
  await pingRedis(redisTargetFrom(config));
  const client = new CellblockClient({ redis: redisTargetFrom(config), queueName: config.queueName, log: loggerFor(config) });
  try {
    const [single] = specs;
    const ids = many || single === undefined ? await client.submitMany(specs, { priority }) : [await client.submit(single, { priority, jobId })];
    if (values.wait !== true) {
      process.stdout.write(`${ids.join('\n')}\n`);
      return EXIT_OK;
    }
    const settled = await Promise.allSettled(ids.map((id) => client.result(id, timeoutMs)));
    const results: (JobResult | { jobId: string; error: string; code: string })[] = settled.map((s, i) =>
      s.status === 'fulfilled'
        ? s.value
        : { jobId: ids[i] ?? '', error: s.reason instanceof Error ? s.reason.message : String(s.reason), code: s.reason instanceof QueueError ? s.reason.code : 'ERROR' },
    );
    process.stdout.write(`${JSON.stringify(many ? results : results[0], null, 2)}\n`);
    const failed = settled.filter((s) => s.status === 'rejected');
    for (const f of failed) if (f.status === 'rejected') process.stderr.write(`cellblock: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}\n`);
    return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    await client.close();
  }
}

export const command: Command = { summary: 'add a job to the queue (and wait for its result)', help, main };
