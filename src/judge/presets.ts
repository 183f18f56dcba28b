// Language presets: a job names one (`"preset": "c"`) and gives its `source`; the
// preset expands to a compile step (a syntax check for the interpreted ones, so a
// broken program is COMPILE_ERROR there too) and a run step over the job's cases.
// Every field of either step can be overridden (`overrides.compile`, `overrides.run`).
import { InvalidJobError, type JobFile, type JobSpec, type JobStep, type Preset, type StepLimits } from '../job/spec.ts';

const MiB = 1024 * 1024;

interface PresetDef {
  /** The source's file name, in the job's cwd. */
  file: string;
  compile: string[];
  run: string[];
}

/** Compilers get more than the program: they are big and not what is measured. */
const COMPILE_LIMITS: StepLimits = { cpuMs: 15_000, wallMs: 30_000, memoryBytes: 512 * MiB, pids: 64, outputBytes: 64 * 1024 };

export const PRESET_DEFS: Readonly<Record<Preset, PresetDef>> = {
  c: { file: 'main.c', compile: ['gcc', '-O2', '-std=gnu17', '-pipe', '-o', 'main', 'main.c', '-lm'], run: ['./main'] },
  cpp: { file: 'main.cpp', compile: ['g++', '-O2', '-std=gnu++17', '-pipe', '-o', 'main', 'main.cpp'], run: ['./main'] },
  python3: { file: 'main.py', compile: ['python3', '-m', 'py_compile', 'main.py'], run: ['python3', 'main.py'] },
  bash: { file: 'main.sh', compile: ['bash', '-n', 'main.sh'], run: ['bash', 'main.sh'] },
};

/** The steps a judge job runs, and the files its first step starts with. */
export function expandJob(spec: JobSpec): { steps: JobStep[]; files: JobFile[] } {
  if (spec.steps !== undefined) return { steps: spec.steps, files: spec.files };
  if (spec.preset === undefined) throw new InvalidJobError('invalid job spec: not a judge job (no steps, no preset)');
  const def = PRESET_DEFS[spec.preset];
  if (spec.files.some((f) => f.path === def.file || f.path === `./${def.file}`)) {
    throw new InvalidJobError(`invalid job spec: files: ${def.file} is where preset ${spec.preset} puts the source`);
  }
  const compile: JobStep = { name: 'compile', kind: 'compile', cmd: def.compile, limits: COMPILE_LIMITS };
  const run: JobStep = { name: 'run', kind: 'run', cmd: def.run, continueOnFailure: true };
  if (spec.cases !== undefined) run.cases = spec.cases;
  if (spec.compare !== undefined) run.compare = spec.compare;
  const o = spec.overrides;
  const source: JobFile = { path: def.file, content: spec.source ?? '', encoding: 'utf8', mode: 0o644 };
  return {
    steps: [override(compile, o?.compile), override(run, o?.run)],
    files: [...spec.files, source],
  };
}

function override(step: JobStep, patch: Partial<JobStep> | undefined): JobStep {
  if (patch === undefined) return step;
  const out: JobStep = { ...step, ...patch };
  if (step.limits !== undefined || patch.limits !== undefined) out.limits = { ...step.limits, ...patch.limits };
  if (step.env !== undefined || patch.env !== undefined) out.env = { ...step.env, ...patch.env };
  return out;
}
