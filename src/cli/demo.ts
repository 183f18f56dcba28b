// `cellblock demo`: the product end to end. A batch of real jobs (compile and run C,
// Python on stdin, a shell pipeline, and one job per limit) goes through the queue
// at once; the table shows what each did and whether that is what was expected.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { configHelp } from '../config.ts';
import { CellblockClient } from '../queue/client.ts';
import { CellblockWorker } from '../queue/worker.ts';
import { pingRedis, redisTargetFrom } from '../queue/connection.ts';
import type { JobResult } from '../job/result.ts';
import type { Logger } from '../log.ts';
import type { CellblockConfig } from '../config.ts';
import { CellblockError, errnoCode, errorMessage } from '../errors.ts';
import { loadDemoJobs, mismatches, type DemoJob } from './demo-jobs.ts';
import {
  configFrom,
  EXIT_FAILURE,
  EXIT_OK,
  exitOrSignal,
  intFlag,
  loggerFor,
  mib,
  ms,
  onShutdownSignals,
  parseCommandArgs,
  preparedFor,
  quietUnlessAsked,
  stringFlag,
  table,
  UsageError,
  runnerFor,
  type Command,
} from './common.ts';

const DEFAULT_JOBS_DIR = fileURLToPath(new URL('../../demo/jobs/', import.meta.url));

const help = `Usage: cellblock demo [--external] [--concurrency N] [--jobs DIR] [--timeout-ms N]

Submits every job in demo/jobs/*.json to the queue at once, waits for all of them,
and prints a table: job, expected verdict, verdict, exit code or signal, cpu ms,
peak memory, wall ms. Exits 1 if any job did not do what its file expects.

The jobs use the toolchain image; build it first on every worker host:
  cellblock image build toolchain

By default an in-process worker runs the jobs on this host (Redis is still
used: the jobs go through the queue like any other).

Options:
  --external        start no worker here: running workers on the queue take the jobs
  --concurrency N   jobs at once in the in-process worker (default: number of cores)
  --jobs DIR        directory of job files (default: the repository's demo/jobs)
  --timeout-ms N    how long to wait for all results (default 300000)
${configHelp()}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    { external: { type: 'boolean' }, concurrency: { type: 'string' }, jobs: { type: 'string' }, 'timeout-ms': { type: 'string' } },
    false,
  );
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const external = values.external === true;
  if (external && values.concurrency !== undefined) throw new UsageError('--concurrency is for the in-process worker; --external starts none');
  const timeoutMs = intFlag(values, 'timeout-ms') ?? 300_000;
  const jobs = await loadDemoJobs(path.resolve(stringFlag(values, 'jobs') ?? DEFAULT_JOBS_DIR));
  const config = configFrom(values, { ...quietUnlessAsked(values), concurrency: stringFlag(values, 'concurrency') });
  const log = loggerFor(config);

  await pingRedis(redisTargetFrom(config));
  const worker = external ? undefined : await startLocalWorker(config, log, jobs);
  const client = new CellblockClient({ redis: redisTargetFrom(config), queueName: config.queueName, log });
  const signals = onShutdownSignals(() => process.exit(130));
  try {
    const started = Date.now();
    process.stderr.write(
      `cellblock demo: ${jobs.length} jobs on queue ${config.queueName}, ${external ? 'taken by running workers' : `in-process worker, concurrency ${config.concurrency}`}\n`,
    );
    const ids = await client.submitMany(jobs.map((j) => j.spec));
    const waiting = Promise.allSettled(ids.map((id) => client.result(id, timeoutMs)));
    const outcome = await Promise.race([waiting, signals.first.then((s) => s)]);
    if (typeof outcome === 'string') {
      process.stderr.write(`cellblock demo: ${outcome}: stopping\n`);
      worker?.cancelAll('demo interrupted');
      return 130;
    }
    const report = render(jobs, outcome);
    process.stdout.write(`${report.text}\n`);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`\n${jobs.length - report.bad} of ${jobs.length} jobs did what was expected, in ${secs} s\n`);
    return report.bad === 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    signals.dispose();
    await client.close();
    if (worker !== undefined) await worker.close();
  }
}

async function startLocalWorker(config: CellblockConfig, log: Logger, jobs: readonly DemoJob[]): Promise<CellblockWorker> {
  await checkImages(config, log, jobs);
  const runner = await runnerFor(config, log, preparedFor(config));
  try {
    return await CellblockWorker.start({
      redis: redisTargetFrom(config),
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
}

/** A missing image would fail every job alike; say how to get it instead. */
async function checkImages(config: CellblockConfig, log: Logger, jobs: readonly DemoJob[]): Promise<void> {
  const { ImageStore } = await import('../image/store.ts');
  const store = new ImageStore(path.join(config.stateDir, 'images'), log);
  const names = [...new Set(jobs.map((j) => j.spec.image ?? 'busybox'))];
  for (const name of names) {
    try {
      await store.resolve(name);
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : errnoCode(err);
      if (code === 'IMAGE_NOT_FOUND' || code === 'ENOENT') {
        throw new CellblockError('IMAGE_NOT_FOUND', `image ${name} is not in ${config.stateDir}/images; build it first: cellblock image build ${name.split(':')[0] ?? name}`, { cause: err });
      }
      throw err;
    }
  }
}

function render(jobs: readonly DemoJob[], settled: PromiseSettledResult<JobResult>[]): { text: string; bad: number } {
  const rows: string[][] = [];
  const notes: string[] = [];
  const cases: string[] = [];
  let bad = 0;
  jobs.forEach((job, i) => {
    const s = settled[i];
    if (s === undefined || s.status === 'rejected') {
      bad++;
      const why = s === undefined ? 'no result' : errorMessage(s.reason);
      rows.push([job.name, job.expectation.expect, 'FAILED', '-', '-', '-', '-', 'FAIL']);
      notes.push(`${job.name}: the job failed in the queue: ${why}`);
      return;
    }
    const r = s.value;
    const wrong = mismatches(job.expectation, r);
    if (wrong.length > 0) {
      bad++;
      notes.push(`${job.name}: ${wrong.join('; ')}${r.message !== undefined ? ` (${r.message})` : ''}`);
      if (r.stderr.trim() !== '') notes.push(`  stderr: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
    }
    // A judge submission: one line per test case under its row.
    for (const step of r.steps ?? []) {
      for (const c of step.cases ?? []) cases.push(`${job.name}: case ${c.name}: ${c.verdict}${c.message !== undefined ? ` (${c.message})` : ''}, ${ms(c.stats.cpuMs)} ms cpu`);
    }
    if (r.summary !== undefined) {
      cases.push(`${job.name}: ${r.summary.passed} of ${r.summary.total} cases passed; max cpu ${ms(r.summary.maxCpuMs)} ms, max memory ${mib(r.summary.maxMemoryBytes)} MiB`);
    }
    rows.push([
      job.name,
      job.expectation.expect,
      r.verdict,
      exitOrSignal(r),
      ms(r.stats.cpuMs),
      mib(r.stats.memoryPeakBytes),
      ms(r.stats.wallMs),
      wrong.length === 0 ? 'ok' : 'FAIL',
    ]);
  });
  const text = table(['JOB', 'EXPECTED', 'VERDICT', 'EXIT/SIGNAL', 'CPU MS', 'PEAK MIB', 'WALL MS', 'CHECK'], rows);
  const sections = [text, ...(cases.length > 0 ? [`Test cases of judge submissions:\n${cases.map((l) => `  ${l}`).join('\n')}`] : []), ...(notes.length > 0 ? [notes.join('\n')] : [])];
  return { text: sections.join('\n\n'), bad };
}

export const command: Command = { summary: 'run the demo batch through the queue and check every verdict', help, main };
