// Output comparison modes: pure, no sandbox.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareOutput, floatsMatch } from '../../../src/judge/compare.ts';

describe('compareOutput', () => {
  test('exact: every byte counts, the first difference is named', () => {
    assert.deepEqual(compareOutput('3\n', '3\n', { mode: 'exact' }), { ok: true });
    const r = compareOutput('3 \n', '3\n', { mode: 'exact' });
    assert.equal(r.ok, false);
    assert.match(r.message ?? '', /byte 1 \(line 1\)/);
  });

  test('trailing-whitespace: trailing blanks, \\r and final empty lines are ignored, inner ones are not', () => {
    const m = { mode: 'trailing-whitespace' } as const;
    assert.equal(compareOutput('1 2  \r\n3\n\n\n', '1 2\n3', m).ok, true);
    assert.equal(compareOutput('1  2\n', '1 2\n', m).ok, false);
    assert.equal(compareOutput('', '\n\n', m).ok, true);
    assert.match(compareOutput('a\nb\n', 'a\nc\n', m).message ?? '', /line 2: expected "c", got "b"/);
    assert.match(compareOutput('a\n', 'a\nb\n', m).message ?? '', /line 2: expected "b", got end of output/);
  });

  test('tokens: any whitespace between tokens', () => {
    const m = { mode: 'tokens' } as const;
    assert.equal(compareOutput('1\n2   3\t\n', ' 1 2\n3', m).ok, true);
    assert.match(compareOutput('1 2', '1 2 3', m).message ?? '', /token 3: expected "3", got end of output/);
  });

  test('float: absolute or relative tolerance, non-numbers exactly', () => {
    const m = { mode: 'float', absTol: 1e-3, relTol: 0 } as const;
    assert.equal(compareOutput('0.3334 yes', '0.333 yes', m).ok, true);
    assert.equal(compareOutput('0.335', '0.333', m).ok, false);
    assert.equal(compareOutput('0.333 no', '0.333 yes', m).ok, false);
    assert.equal(compareOutput('1e6', '1000000.0', m).ok, true);
    const rel = { mode: 'float', absTol: 0, relTol: 1e-6 } as const;
    assert.equal(compareOutput('1000000.5', '1000000', rel).ok, true);
    assert.equal(compareOutput('1000002', '1000000', rel).ok, false);
  });

  test('floatsMatch refuses what is not a number, and infinities', () => {
    assert.equal(floatsMatch('nan', 'nan', 1, 1), true, 'equal strings match');
    assert.equal(floatsMatch('nan', '0', 1, 1), false);
    assert.equal(floatsMatch('0x10', '16', 1, 1), false);
    assert.equal(floatsMatch('1e999', '1e999', 1, 1), true);
    assert.equal(floatsMatch('1e999', '2e999', 1, 1), false);
    assert.equal(floatsMatch('-.5', '-0.5', 0, 0), true);
    assert.equal(floatsMatch('0.1', '0.2', 0.1, 0), true, 'a tolerance exactly at the difference passes');
  });
});
