// What every subcommand shares: argument parsing that fails as a usage error,
// size and number flags, reading JSON input, and formatting of results.
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CONFIG_FLAG_OPTIONS, configFlagsFrom, loadConfig, type CellblockConfig, type ConfigFlags } from '../config.ts';
import { createLogger, type Logger } from '../log.ts';
import type { JobResult } from '../job/result.ts';
import type { Runner } from '../sandbox/runner-api.ts';

/** A mistake in how the command was called: printed with a pointer to --help, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface Command {
  /** One line for `cellblock --help`. */
  summary: string;
  /** Full text for `cellblock CMD --help`. */
  help: string;
  main(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with the config flags and --help added; unknown flags become UsageErrors. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({
      args: argv,
      options: { ...CONFIG_FLAG_OPTIONS, help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Config from env + the config flags present in `values`, with optional overrides. */
export function configFrom(values: ParsedValues, over: ConfigFlags = {}): CellblockConfig {
  const flags = configFlagsFrom(values);
  for (const [k, v] of Object.entries(over) as [keyof ConfigFlags, string | number | undefined][]) {
    if (flags[k] === undefined && v !== undefined) flags[k] = v;
  }
  return loadConfig({ flags });
}

/**
 * Log level for interactive commands: JSON log lines would drown what the user asked
 * for, so only warnings show unless a level was asked for explicitly.
 */
export function quietUnlessAsked(values: ParsedValues): ConfigFlags {
  const asked = typeof values['log-level'] === 'string' || (process.env.CELLBLOCK_LOG_LEVEL ?? '') !== '';
  return asked ? {} : { logLevel: 'warn' };
}

/**
 * Sandboxes a worker keeps prepared: one per job it runs at once, but only with
 * uid ranges to spare beyond those its running jobs hold (a prepared sandbox holds
 * one too); without, each job's sandbox is made when it starts.
 */
export function preparedFor(config: Pick<CellblockConfig, 'concurrency' | 'uidRanges'>): number {
  return Math.max(0, Math.min(config.concurrency, config.uidRanges - config.concurrency));
}

/**
 * The sandbox runner a command's configuration asks for (loaded only by commands
 * that run jobs); `prepared` sandboxes wait for jobs ahead of demand.
 */
export async function runnerFor(config: CellblockConfig, log: Logger, prepared = 1): Promise<Runner> {
  const { createRunner } = await import('../sandbox/runner.ts');
  return createRunner({
    stateDir: config.stateDir,
    log,
    uidBase: config.uidBase,
    uidRanges: config.uidRanges,
    workerId: config.workerId,
    cgroupParent: config.cgroupParent,
    prepared,
  });
}

export function loggerFor(config: CellblockConfig): Logger {
  return createLogger(config.logLevel);
}

export function stringFlag(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function stringsFlag(values: ParsedValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** A whole number flag ("1500", "0x10"); undefined when absent. */
export function intFlag(values: ParsedValues, name: string): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^[0-9]+$/.test(v) ? Number.parseInt(v, 10) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name}: expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

export function numberFlag(values: ParsedValues, name: string): number | undefined {
  const v = stringFlag(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "256M", "64MiB", "1g", "4096": binary units, as container tools read them. */
export function parseSize(text: string, what: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) throw new UsageError(`${what}: expected a size like 256M, 1G or 65536, got ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * unit);
}

export function sizeFlag(values: ParsedValues, name: string): number | undefined {
  const v = stringFlag(values, name);
  return v === undefined ? undefined : parseSize(v, `--${name}`);
}

/** Read FILE, or standard input for "-". */
export async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(file: string): Promise<unknown> {
  const text = await readInput(file);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${file === '-' ? 'standard input' : file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** Milliseconds for people: "4.9" below 10, whole numbers above. */
export function ms(n: number): string {
  return n < 10 ? n.toFixed(1) : String(Math.round(n));
}

/** "exit 0", "SIGSEGV", or "-". */
export function exitOrSignal(r: Pick<JobResult, 'exitCode' | 'signal'>): string {
  if (r.signal !== null) return r.signal;
  if (r.exitCode !== null) return `exit ${r.exitCode}`;
  return '-';
}

/** One line for humans: verdict, how it ended, what it used, where the time went. */
export function summaryLine(r: JobResult): string {
  const t = r.timings;
  const parts = [
    r.verdict,
    exitOrSignal(r),
    `cpu ${ms(r.stats.cpuMs)} ms`,
    `wall ${ms(r.stats.wallMs)} ms`,
    `peak ${mib(r.stats.memoryPeakBytes)} MiB`,
    `setup ${ms(t.setupMs)} ms, run ${ms(t.runMs)} ms, collect ${ms(t.collectMs ?? 0)} ms, teardown ${ms(t.teardownMs)} ms`,
  ];
  if (t.queuedMs !== undefined) parts.push(`queued ${ms(t.queuedMs)} ms`);
  const truncated = [r.stdoutTruncated ? 'stdout' : '', r.stderrTruncated ? 'stderr' : ''].filter((s) => s !== '');
  if (truncated.length > 0) parts.push(`${truncated.join(' and ')} truncated`);
  return `cellblock: ${parts.join(' | ')}${r.message !== undefined && r.verdict !== 'OK' ? ` (${r.message})` : ''}`;
}

/** Plain text table, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Resolves on the first SIGINT/SIGTERM; later signals call `again(count)`. */
export function onShutdownSignals(again: (count: number, signal: NodeJS.Signals) => void): { first: Promise<NodeJS.Signals>; dispose(): void } {
  let count = 0;
  let resolveFirst: (s: NodeJS.Signals) => void = () => {};
  const first = new Promise<NodeJS.Signals>((r) => {
    resolveFirst = r;
  });
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) resolveFirst(signal);
    else again(count, signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    first,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
