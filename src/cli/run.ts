// `cellblock run`: one job straight through the sandbox on this host, no Redis.
// The job's stdout and stderr come out as they were, then a summary line on stderr.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { configHelp } from '../config.ts';
import { parseJobSpec, type JobSpecInput } from '../job/spec.ts';
import type { JobResult } from '../job/result.ts';
import {
  configFrom,
  EXIT_OK,
  intFlag,
  loggerFor,
  numberFlag,
  onShutdownSignals,
  parseCommandArgs,
  quietUnlessAsked,
  readInput,
  sizeFlag,
  stringFlag,
  stringsFlag,
  summaryLine,
  UsageError,
  runnerFor,
  type Command,
} from './common.ts';

const help = `Usage: cellblock run [options] -- CMD [ARGS...]

Runs one job in a fresh sandbox on this host (no queue), prints its stdout and
stderr as they were, then a summary line on stderr: verdict, exit code or signal,
cpu, wall, peak memory, and the setup/run/teardown timings.

Job options (defaults are the JobSpec's):
  --image IMG         image name[:tag] or sha256:... (default busybox)
  --memory SIZE       memory limit, e.g. 256M (default 256M)
  --cpu-ms N          cpu time limit (default 5000)
  --wall-ms N         wall time limit (default 10000)
  --cpus N            cores' worth of cpu bandwidth (default 1)
  --pids N            processes and threads at once (default 64)
  --output SIZE       bytes kept of stdout and of stderr each (default 1M)
  --disk SIZE         writable layer size (default 64M)
  --open-files N      RLIMIT_NOFILE (default 256)
  --env K=V           environment variable (repeatable)
  --cwd DIR           working directory inside the sandbox (default /box)
  --user UID:GID      user inside the sandbox (default 1000:1000)
  --stdin FILE|-      feed FILE (or this command's stdin) to the job
  --file SRC[:DEST]   copy local file SRC into the job as DEST (default: its base name,
                      relative to cwd); repeatable
  --json              print the JobResult as JSON instead

Exit status: 0 for OK; the job's exit code for RUNTIME_ERROR (128+N for signal N);
1 for a limit verdict or a cancelled job; 70 for INTERNAL_ERROR; 2 for usage errors.

${configHelp()}`;

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25, SIGSYS: 31,
};

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const flagArgs = dash === -1 ? argv : argv.slice(0, dash);
  const { values, positionals } = parseCommandArgs(
    flagArgs,
    {
      image: { type: 'string' },
      memory: { type: 'string' },
      'cpu-ms': { type: 'string' },
      'wall-ms': { type: 'string' },
      cpus: { type: 'string' },
      pids: { type: 'string' },
      output: { type: 'string' },
      disk: { type: 'string' },
      'open-files': { type: 'string' },
      env: { type: 'string', multiple: true },
      cwd: { type: 'string' },
      user: { type: 'string' },
      stdin: { type: 'string' },
      file: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    dash === -1,
  );
  if (values.help === true) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  const cmd = dash === -1 ? positionals : argv.slice(dash + 1);
  if (cmd.length === 0) throw new UsageError('no command to run: cellblock run [options] -- CMD [ARGS...]');

  const spec = await buildSpec(values, cmd);
  const config = configFrom(values, quietUnlessAsked(values));
  const log = loggerFor(config);
  // One job: its sandbox is prepared when it is needed, none ahead.
  const runner = await runnerFor(config, log, 0);

  const abort = new AbortController();
  const signals = onShutdownSignals(() => process.exit(130));
  void signals.first.then((s) => abort.abort(new Error(`${s} received`)));
  let result: JobResult;
  try {
    result = await runner.run(spec, { jobId: `run-${process.pid}-${randomBytes(4).toString('hex')}`, signal: abort.signal, log });
  } finally {
    signals.dispose();
    await runner.close();
  }

  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    process.stderr.write(`${summaryLine(result)}\n`);
  }
  return exitStatus(result);
}

async function buildSpec(values: Parameters<typeof stringFlag>[0], cmd: string[]) {
  const limits: NonNullable<JobSpecInput['limits']> = {};
  const set = <K extends keyof typeof limits>(k: K, v: (typeof limits)[K] | undefined): void => {
    if (v !== undefined) limits[k] = v;
  };
  set('memoryBytes', sizeFlag(values, 'memory'));
  set('cpuMs', intFlag(values, 'cpu-ms'));
  set('wallMs', intFlag(values, 'wall-ms'));
  set('cpus', numberFlag(values, 'cpus'));
  set('pids', intFlag(values, 'pids'));
  set('outputBytes', sizeFlag(values, 'output'));
  set('diskBytes', sizeFlag(values, 'disk'));
  set('openFiles', intFlag(values, 'open-files'));

  const env: Record<string, string> = {};
  for (const kv of stringsFlag(values, 'env')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env: expected K=V, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }

  const input: JobSpecInput = { cmd, env, limits };
  const image = stringFlag(values, 'image');
  if (image !== undefined) input.image = image;
  const cwd = stringFlag(values, 'cwd');
  if (cwd !== undefined) input.cwd = cwd;
  const user = stringFlag(values, 'user');
  if (user !== undefined) {
    const m = /^([0-9]+)(?::([0-9]+))?$/.exec(user);
    if (m === null) throw new UsageError(`--user: expected UID[:GID], got ${JSON.stringify(user)}`);
    input.user = { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  }
  const stdin = stringFlag(values, 'stdin');
  if (stdin !== undefined) input.stdin = await readInput(stdin);
  const files = stringsFlag(values, 'file');
  if (files.length > 0) {
    input.files = await Promise.all(
      files.map(async (f) => {
        const colon = f.indexOf(':');
        const src = colon === -1 ? f : f.slice(0, colon);
        const dest = colon === -1 ? path.basename(f) : f.slice(colon + 1);
        const content = await readFile(src).catch((err: unknown) => {
          throw new UsageError(`--file ${src}: ${err instanceof Error ? err.message : String(err)}`);
        });
        return { path: dest, content: content.toString('base64'), encoding: 'base64' as const };
      }),
    );
  }
  // Same validation as the queue's, so `run` and `submit` accept the same jobs.
  return parseJobSpec(input);
}

function exitStatus(r: JobResult): number {
  switch (r.verdict) {
    case 'OK':
      return 0;
    case 'RUNTIME_ERROR':
      if (r.signal !== null) return 128 + (SIGNAL_NUMBERS[r.signal] ?? 0);
      return r.exitCode !== null && r.exitCode !== 0 ? r.exitCode : 1;
    case 'INTERNAL_ERROR':
      return 70;
    default:
      return 1;
  }
}

export const command: Command = { summary: 'run one job here and now, without the queue', help, main };
