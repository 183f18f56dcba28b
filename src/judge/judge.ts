// The judge: runs a job of steps (or a language preset) as a series of single-
// container runs through Runner.run. Each step is a fresh sandbox over the job's
// workspace: the files under the cwd that the step before left, copied out by the
// launcher's collect phase (regular files only, no link followed, capped) and laid
// in as the next sandbox's files layer. A step with cases runs once per case;
// each case's output is compared (or judged by a checker in a sandbox of its own).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LimitsSchema, type Compare, type JobFile, type JobLimits, type JobSpec, type JobStep, type TestCase } from '../job/spec.ts';
import { nothingRan, type CaseResult, type CaseSummary, type JobResult, type JobStats, type OutputFile, type StepResult, type Verdict } from '../job/result.ts';
import type { Collected } from '../sandbox/collect.ts';
import type { RunOptions, Runner } from '../sandbox/runner-api.ts';
import { compareOutput } from './compare.ts';
import { expandJob } from './presets.ts';

const MiB = 1024 * 1024;
/** The most a workspace carried between steps may hold (and never more than the step's disk). */
const WORKSPACE_MAX_BYTES = 64 * MiB;
const WORKSPACE_MAX_FILES = 10_000;
/** Files out up to this size are returned in the result (base64), up to INLINE_TOTAL together. */
const INLINE_FILE_MAX = 1 * MiB;
const INLINE_TOTAL_MAX = 4 * MiB;
/** What a case result keeps of the case's stdout/stderr (all of it is compared). */
const CASE_OUTPUT_KEPT = 4096;
const CHECK_DIR = '/check';

export interface JudgeOptions extends Omit<RunOptions, 'collect'> {
  /** Files out larger than the result takes are written below this directory (per job), if set. */
  resultsDir?: string;
}

/** Run a judge job (steps or a preset). Throws only what Runner.run throws for a bad spec. */
export async function runJudge(runner: Runner, spec: JobSpec, opts: JudgeOptions): Promise<JobResult> {
  return new Judge(runner, spec, opts).run();
}

class Judge {
  private readonly runs: JobResult[] = [];
  /** A checker's runs count in the job's timings, not in its program's stats. */
  private readonly checkerRuns: JobResult[] = [];
  private readonly files: OutputFile[] = [];
  private inlineBytes = 0;
  private seq = 0;
  private readonly idBase: string;

  constructor(private readonly runner: Runner, private readonly spec: JobSpec, private readonly opts: JudgeOptions) {
    const hash = createHash('sha256').update(opts.jobId).digest('hex').slice(0, 8);
    this.idBase = `${opts.jobId.slice(0, 44)}-${hash}`;
  }

  async run(): Promise<JobResult> {
    const { steps, files } = expandJob(this.spec);
    let workspace = files;
    let stopped = false;
    const results: StepResult[] = [];
    for (const [i, step] of steps.entries()) {
      if (stopped) {
        results.push(skippedStep(step));
        continue;
      }
      const hasNext = i < steps.length - 1;
      const outcome = step.cases !== undefined ? await this.casesStep(step, step.cases, workspace) : await this.singleStep(step, workspace, hasNext);
      results.push(outcome.result);
      if (outcome.workspace !== undefined) workspace = outcome.workspace;
      const failed = outcome.result.verdict !== 'OK';
      if (failed && (step.continueOnFailure !== true || outcome.result.verdict === 'CANCELLED' || this.opts.signal?.aborted === true)) stopped = true;
    }
    return this.jobResult(results);
  }

  private subId(what: string): string {
    return `${this.idBase}-${what}${++this.seq}`.slice(0, 64);
  }

  private limits(step: JobStep): JobLimits {
    return { ...this.spec.limits, ...step.limits };
  }

  /** The single-container spec of one run of a step. */
  private runSpec(step: JobStep, files: JobFile[], stdin: string): JobSpec {
    const { steps: _steps, preset: _preset, source: _source, cases: _cases, compare: _compare, overrides: _overrides, ...base } = this.spec;
    return { ...base, cmd: step.cmd, stdin, files, env: { ...this.spec.env, ...step.env }, limits: this.limits(step) };
  }

  private async runOnce(spec: JobSpec, what: string, collect?: RunOptions['collect']): Promise<JobResult> {
    const r = await this.runner.run(spec, {
      jobId: this.subId(what),
      ...(this.opts.signal !== undefined ? { signal: this.opts.signal } : {}),
      ...(this.opts.log !== undefined ? { log: this.opts.log.child({ judge: what }) } : {}),
      ...(collect !== undefined ? { collect } : {}),
    });
    this.runs.push(r);
    return r;
  }

  private async singleStep(step: JobStep, workspace: JobFile[], hasNext: boolean): Promise<{ result: StepResult; workspace?: JobFile[] }> {
    const limits = this.limits(step);
    const filesOut = step.filesOut ?? [];
    // Pattern 0 is the workspace (only when a step follows); the rest are the step's files out.
    const patterns = [...(hasNext ? ['**'] : []), ...filesOut];
    let collected: Collected | undefined;
    const cap = Math.min(limits.diskBytes, WORKSPACE_MAX_BYTES) + (filesOut.length > 0 ? INLINE_TOTAL_MAX : 0);
    const collect: RunOptions['collect'] =
      patterns.length > 0
        ? { patterns, maxBytes: cap, fileMaxBytes: cap, maxFiles: WORKSPACE_MAX_FILES, onCollected: (c) => { collected = c; } }
        : undefined;
    const r = await this.runOnce(this.runSpec(step, workspace, step.stdin ?? ''), `s${step.name.slice(0, 8)}`, collect);
    const result = stepFromRun(step, r);
    if (collected === undefined) return { result };
    const c = collected;
    const outOffset = hasNext ? 1 : 0;

    // Files out: each path once, in the order found.
    const seen = new Set<string>();
    const refused: { path: string; reason: string }[] = [];
    for (const f of c.files) {
      if (f.pattern < outOffset || seen.has(f.path)) continue;
      seen.add(f.path);
      const out = this.outputFile(step, f.path, f.mode, f.data);
      if (typeof out === 'string') refused.push({ path: f.path, reason: out });
      else this.files.push(out);
    }
    for (const x of c.refused) if (x.pattern >= outOffset) refused.push({ path: x.path, reason: x.reason });
    if (refused.length > 0) result.filesRefused = refused;
    if (!hasNext) return { result };

    // The workspace for the next step. Links and special files are not carried.
    const tooBig = c.refused.find((x) => x.pattern === 0 && /too_large|too_many/.test(x.reason));
    if (tooBig !== undefined && result.verdict === 'OK') {
      result.verdict = 'DISK_LIMIT';
      result.message = `the workspace is too large to carry to the next step (${tooBig.reason} at ${tooBig.path}; at most ${cap} bytes, ${WORKSPACE_MAX_FILES} files)`;
    }
    const next: JobFile[] = c.files
      .filter((f) => f.pattern === 0)
      .map((f) => ({ path: f.path, content: f.data.toString('base64'), encoding: 'base64', mode: f.mode }));
    return { result, workspace: next };
  }

  /** A file out for the result, or why it cannot be one. */
  private outputFile(step: JobStep, p: string, mode: number, data: Buffer): OutputFile | string {
    const base = { path: p, step: step.name, mode, size: data.length };
    if (data.length <= INLINE_FILE_MAX && this.inlineBytes + data.length <= INLINE_TOTAL_MAX) {
      this.inlineBytes += data.length;
      return { ...base, contentBase64: data.toString('base64') };
    }
    if (this.opts.resultsDir === undefined) return 'too_large_for_result';
    // The name on the host is ours (the sandbox's path is untrusted): a counter and a sanitised base name.
    const dir = path.join(this.opts.resultsDir, this.opts.jobId);
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const name = `${this.files.length + 1}-${path.posix.basename(p).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100)}`;
    const host = path.join(dir, name);
    fs.writeFileSync(host, data, { flag: 'wx', mode: 0o640 });
    return { ...base, resultPath: host };
  }

  private async casesStep(step: JobStep, cases: TestCase[], workspace: JobFile[]): Promise<{ result: StepResult; workspace?: JobFile[] }> {
    const compare: Compare = step.compare ?? { mode: 'trailing-whitespace' };
    const out: CaseResult[] = [];
    let decisive: JobResult | undefined;
    let last: JobResult | undefined;
    let firstFailed: CaseResult | undefined;
    const runs: JobResult[] = [];
    for (const [i, c] of cases.entries()) {
      const name = c.name ?? `${i + 1}`;
      if (firstFailed !== undefined && (step.continueOnFailure !== true || firstFailed.verdict === 'CANCELLED' || this.opts.signal?.aborted === true)) {
        out.push({ name, verdict: 'SKIPPED', exitCode: null, signal: null, stdout: '', stderr: '', stats: { wallMs: 0, cpuMs: 0, memoryPeakBytes: 0 } });
        continue;
      }
      const r = await this.runOnce(this.runSpec(step, workspace, c.stdin), `c${i + 1}-`);
      last = r;
      runs.push(r);
      const cr: CaseResult = {
        name,
        verdict: r.verdict,
        exitCode: r.exitCode,
        signal: r.signal,
        stdout: r.stdout.slice(0, CASE_OUTPUT_KEPT),
        stderr: r.stderr.slice(0, CASE_OUTPUT_KEPT),
        stats: { wallMs: r.stats.wallMs, cpuMs: r.stats.cpuMs, memoryPeakBytes: r.stats.memoryPeakBytes },
      };
      if (r.message !== undefined) cr.message = r.message;
      if (r.verdict === 'OK') {
        if ('checker' in compare) await this.check(compare.checker, c, r.stdout, cr, i);
        else {
          const cmp = compareOutput(r.stdout, c.expected, compare);
          if (!cmp.ok) {
            cr.verdict = 'WRONG_ANSWER';
            cr.message = cmp.message ?? 'wrong answer';
          }
        }
      }
      out.push(cr);
      if (cr.verdict !== 'OK' && firstFailed === undefined) {
        firstFailed = cr;
        decisive = r;
      }
    }
    const shown = decisive ?? last;
    const summary = summarize(out);
    const result: StepResult = {
      ...(shown !== undefined ? stepFromRun(step, shown) : skippedStep(step)),
      verdict: firstFailed?.verdict ?? 'OK',
      stats: sumStats(runs),
      cases: out,
      summary,
    };
    delete result.message;
    if (firstFailed !== undefined) result.message = `case ${firstFailed.name}: ${firstFailed.verdict}${firstFailed.message !== undefined ? ` (${firstFailed.message})` : ''}; ${summary.passed} of ${summary.total} passed`;
    return { result };
  }

  /** Judge one case with the job's checker, in a sandbox of its own. */
  private async check(checker: Extract<Compare, { checker: unknown }>['checker'], c: TestCase, actual: string, cr: CaseResult, i: number): Promise<void> {
    const data = (name: string, content: string): JobFile => ({ path: `${CHECK_DIR}/${name}`, content, encoding: 'utf8', mode: 0o644 });
    const step: JobStep = { name: 'checker', cmd: [...checker.cmd, `${CHECK_DIR}/input`, `${CHECK_DIR}/expected`, `${CHECK_DIR}/actual`] };
    const spec: JobSpec = {
      ...this.runSpec(step, [...checker.files, data('input', c.stdin), data('expected', c.expected), data('actual', actual)], ''),
      limits: LimitsSchema.parse(checker.limits ?? {}),
    };
    const r = await this.runner.run(spec, {
      jobId: this.subId(`k${i + 1}-`),
      ...(this.opts.signal !== undefined ? { signal: this.opts.signal } : {}),
    });
    this.checkerRuns.push(r);
    const said = `${r.stdout}${r.stderr}`.trim().slice(0, 1024);
    if (said !== '') cr.checkerOutput = said;
    if (r.verdict === 'OK') return;
    if (r.verdict === 'RUNTIME_ERROR' && r.exitCode === 1) {
      cr.verdict = 'WRONG_ANSWER';
      cr.message = said !== '' ? `checker: ${said.split('\n')[0] ?? ''}` : 'rejected by the checker';
      return;
    }
    cr.verdict = r.verdict === 'CANCELLED' ? 'CANCELLED' : 'CHECKER_ERROR';
    cr.message = `checker: ${r.verdict}${r.message !== undefined ? ` (${r.message})` : ''}`;
  }

  private jobResult(steps: StepResult[]): JobResult {
    const failed = steps.find((s) => s.verdict !== 'OK' && s.verdict !== 'SKIPPED');
    const shown = failed ?? [...steps].reverse().find((s) => s.verdict !== 'SKIPPED');
    const first = this.runs[0] ?? this.checkerRuns[0];
    const all = [...this.runs, ...this.checkerRuns];
    const verdict: Verdict = failed !== undefined && failed.verdict !== 'SKIPPED' ? failed.verdict : 'OK';
    const result: JobResult = {
      jobId: this.opts.jobId,
      verdict,
      exitCode: shown?.exitCode ?? null,
      signal: shown?.signal ?? null,
      stdout: shown?.stdout ?? '',
      stderr: shown?.stderr ?? '',
      stdoutTruncated: shown?.stdoutTruncated ?? false,
      stderrTruncated: shown?.stderrTruncated ?? false,
      stats: sumStats(this.runs),
      timings: {
        setupMs: round(all.reduce((n, r) => n + r.timings.setupMs, 0)),
        runMs: round(all.reduce((n, r) => n + r.timings.runMs, 0)),
        collectMs: round(all.reduce((n, r) => n + (r.timings.collectMs ?? 0), 0)),
        teardownMs: round(all.reduce((n, r) => n + r.timings.teardownMs, 0)),
      },
      image: first?.image ?? { name: this.spec.image, digest: '' },
      steps,
    };
    if (failed?.message !== undefined) result.message = `step ${failed.name}: ${failed.message}`;
    if (first?.worker !== undefined) result.worker = first.worker;
    if (this.files.length > 0) result.files = this.files;
    const withCases = steps.filter((s) => s.summary !== undefined);
    if (withCases.length > 0) result.summary = summarize(withCases.flatMap((s) => s.cases ?? []));
    return result;
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function skippedStep(step: JobStep): StepResult {
  return { ...nothingRan(), name: step.name, kind: step.kind ?? 'run', verdict: 'SKIPPED' };
}

/** A step's result from its one run; a failed compile step is COMPILE_ERROR with the compiler's words. */
function stepFromRun(step: JobStep, r: JobResult): StepResult {
  const kind = step.kind ?? 'run';
  const result: StepResult = {
    name: step.name,
    kind,
    verdict: r.verdict,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    stats: r.stats,
  };
  if (r.message !== undefined) result.message = r.message;
  if (kind === 'compile' && r.verdict !== 'OK' && r.verdict !== 'INTERNAL_ERROR' && r.verdict !== 'CANCELLED') {
    result.verdict = 'COMPILE_ERROR';
    const said = (r.stderr.trim() !== '' ? r.stderr : r.stdout).trim();
    result.message = `compilation failed (${r.message ?? r.verdict})${said !== '' ? `:\n${said.slice(0, 4096)}` : ''}`;
  }
  return result;
}

function summarize(cases: readonly CaseResult[]): CaseSummary {
  const ran = cases.filter((c) => c.verdict !== 'SKIPPED');
  return {
    total: cases.length,
    passed: cases.filter((c) => c.verdict === 'OK').length,
    failed: ran.filter((c) => c.verdict !== 'OK').length,
    skipped: cases.length - ran.length,
    maxWallMs: Math.max(0, ...ran.map((c) => c.stats.wallMs)),
    maxCpuMs: Math.max(0, ...ran.map((c) => c.stats.cpuMs)),
    maxMemoryBytes: Math.max(0, ...ran.map((c) => c.stats.memoryPeakBytes)),
  };
}

/** Several runs as one: times and io add up, peaks are the largest. */
function sumStats(runs: readonly JobResult[]): JobStats {
  const sum = (f: (s: JobStats) => number): number => round(runs.reduce((n, r) => n + f(r.stats), 0));
  const max = (f: (s: JobStats) => number): number => Math.max(0, ...runs.map((r) => f(r.stats)));
  const pids = runs.map((r) => r.stats.pidsPeak);
  return {
    wallMs: sum((s) => s.wallMs),
    cpuUserMs: sum((s) => s.cpuUserMs),
    cpuSysMs: sum((s) => s.cpuSysMs),
    cpuMs: sum((s) => s.cpuMs),
    memoryPeakBytes: max((s) => s.memoryPeakBytes),
    pidsPeak: pids.length > 0 && pids.every((p) => p !== null) ? Math.max(...pids.map((p) => p ?? 0)) : null,
    ioReadBytes: sum((s) => s.ioReadBytes),
    ioWriteBytes: sum((s) => s.ioWriteBytes),
    oomKilled: runs.some((r) => r.stats.oomKilled),
    diskUsedBytes: max((s) => s.diskUsedBytes),
  };
}
