// The demo's job files: a JobSpec plus what the demo expects of it. `expect*` and
// `description` are stripped before the spec is submitted.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { VERDICTS, type JobResult, type Verdict } from '../job/result.ts';
import { parseJobSpec, type JobSpecInput } from '../job/spec.ts';
import { readJson, UsageError } from './common.ts';

const DEMO_KEYS = ['expect', 'expectSignal', 'expectStdout', 'expectExitCode', 'expectCases', 'description'] as const;

const ExpectationSchema = z.object({
  expect: z.enum(VERDICTS),
  /** e.g. "SIGSEGV". */
  expectSignal: z.string().optional(),
  expectExitCode: z.number().int().optional(),
  /** Exact stdout, compared after trimming trailing whitespace. */
  expectStdout: z.string().optional(),
  /** Judge jobs: the verdict of each test case, in order. */
  expectCases: z.array(z.enum([...VERDICTS, 'SKIPPED'])).optional(),
  description: z.string().optional(),
});

export type Expectation = z.infer<typeof ExpectationSchema>;

export interface DemoJob {
  /** File name without .json. */
  name: string;
  file: string;
  expectation: Expectation;
  spec: JobSpecInput;
}

/** Split a parsed file into the spec and the demo's expectations (if it has any). */
export function stripDemoFields(data: unknown): { spec: unknown; demo: Record<string, unknown> } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { spec: data, demo: {} };
  const spec: Record<string, unknown> = {};
  const demo: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if ((DEMO_KEYS as readonly string[]).includes(k)) demo[k] = v;
    else spec[k] = v;
  }
  return { spec, demo };
}

export async function loadDemoJobs(dir: string): Promise<DemoJob[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  } catch (err) {
    throw new UsageError(`cannot read the demo jobs in ${dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (entries.length === 0) throw new UsageError(`no *.json job files in ${dir}`);
  const jobs: DemoJob[] = [];
  for (const f of entries) {
    const file = path.join(dir, f);
    const { spec, demo } = stripDemoFields(await readJson(file));
    const expectation = ExpectationSchema.safeParse(demo);
    if (!expectation.success) {
      throw new UsageError(`${file}: ${expectation.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
    }
    try {
      // Checked here too (the client checks again) so the message names the file.
      parseJobSpec(spec);
    } catch (err) {
      throw new UsageError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    jobs.push({ name: f.replace(/\.json$/, ''), file, expectation: expectation.data, spec: spec as JobSpecInput });
  }
  return jobs;
}

/** Every way the result differs from the expectation; empty when it matches. */
export function mismatches(e: Expectation, r: JobResult): string[] {
  const out: string[] = [];
  if (r.verdict !== e.expect) out.push(`verdict ${r.verdict}, expected ${e.expect}`);
  if (e.expectSignal !== undefined && r.signal !== e.expectSignal) out.push(`signal ${r.signal ?? 'none'}, expected ${e.expectSignal}`);
  if (e.expectExitCode !== undefined && r.exitCode !== e.expectExitCode) out.push(`exit code ${r.exitCode ?? 'none'}, expected ${e.expectExitCode}`);
  if (e.expectStdout !== undefined && r.stdout.trimEnd() !== e.expectStdout.trimEnd()) {
    out.push(`stdout ${JSON.stringify(r.stdout.slice(0, 80))}, expected ${JSON.stringify(e.expectStdout)}`);
  }
  if (e.expectCases !== undefined) {
    const got = (r.steps ?? []).flatMap((s) => (s.cases ?? []).map((c) => c.verdict));
    if (got.join(',') !== e.expectCases.join(',')) out.push(`cases ${got.join(' ') || 'none'}, expected ${e.expectCases.join(' ')}`);
  }
  return out;
}

export type { Verdict };
