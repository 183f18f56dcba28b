// Output comparison for test cases: pure functions, one per mode. A mismatch says
// where (line or token) and what, shortly, so a verdict's message is useful.

export type CompareMode =
  | { mode: 'exact' }
  | { mode: 'trailing-whitespace' }
  | { mode: 'tokens' }
  | { mode: 'float'; absTol: number; relTol: number };

export interface Comparison {
  ok: boolean;
  /** Where the first difference is, for a mismatch. */
  message?: string;
}

const OK: Comparison = { ok: true };
const show = (s: string | undefined): string => (s === undefined ? 'end of output' : JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s));

export function compareOutput(actual: string, expected: string, how: CompareMode): Comparison {
  switch (how.mode) {
    case 'exact':
      return compareExact(actual, expected);
    case 'trailing-whitespace':
      return compareLines(actual, expected);
    case 'tokens':
      return compareTokens(actual, expected, (a, e) => a === e);
    case 'float':
      return compareTokens(actual, expected, (a, e) => floatsMatch(a, e, how.absTol, how.relTol));
  }
}

function compareExact(actual: string, expected: string): Comparison {
  if (actual === expected) return OK;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const line = actual.slice(0, i).split('\n').length;
  return { ok: false, message: `byte ${i} (line ${line}): expected ${show(expected.slice(i, i + 20) || undefined)}, got ${show(actual.slice(i, i + 20) || undefined)}` };
}

/** Lines with trailing blanks (and \r) removed, and trailing empty lines dropped. */
export function normalizeLines(s: string): string[] {
  const lines = s.split('\n').map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function compareLines(actual: string, expected: string): Comparison {
  const a = normalizeLines(actual);
  const e = normalizeLines(expected);
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) return { ok: false, message: `line ${i + 1}: expected ${show(e[i])}, got ${show(a[i])}` };
  }
  return OK;
}

export function tokens(s: string): string[] {
  return s.split(/\s+/).filter((t) => t !== '');
}

function compareTokens(actual: string, expected: string, same: (a: string, e: string) => boolean): Comparison {
  const a = tokens(actual);
  const e = tokens(expected);
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    const x = a[i];
    const y = e[i];
    if (x === undefined || y === undefined || !same(x, y)) return { ok: false, message: `token ${i + 1}: expected ${show(y)}, got ${show(x)}` };
  }
  return OK;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Two tokens that are both numbers match within the absolute or the relative
 * tolerance (either suffices, as in most judges); anything else must be equal.
 */
export function floatsMatch(actual: string, expected: string, absTol: number, relTol: number): boolean {
  if (actual === expected) return true;
  if (!NUMBER.test(actual) || !NUMBER.test(expected)) return false;
  const a = Number(actual);
  const e = Number(expected);
  if (!Number.isFinite(a) || !Number.isFinite(e)) return false;
  const diff = Math.abs(a - e);
  // A small epsilon for the decimal-to-binary rounding of the tolerance itself.
  const slack = 1e-12 * Math.max(1, Math.abs(e));
  return diff <= absTol + slack || diff <= relTol * Math.abs(e) + slack;
}
