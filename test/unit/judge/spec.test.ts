// Judge jobs at the edge: steps, presets, cases and files out validate with readable errors;
// presets expand to steps that can be overridden.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJobSpec } from '../../../src/job/spec.ts';
import { expandJob } from '../../../src/judge/presets.ts';
import { parseCollected } from '../../../src/sandbox/collect.ts';

const rejects = (data: unknown, re: RegExp): void => assert.throws(() => parseJobSpec(data), (e: Error) => re.test(e.message));

describe('judge job specs', () => {
  test('single-command jobs are unchanged', () => {
    const s = parseJobSpec({ cmd: ['true'] });
    assert.equal(s.image, 'busybox');
    assert.equal(s.steps, undefined);
  });

  test('a preset defaults to the toolchain image and expands to compile + run', () => {
    const s = parseJobSpec({ preset: 'cpp', source: 'int main(){}', cases: [{ expected: '' }], limits: { cpuMs: 2000 } });
    assert.equal(s.image, 'toolchain');
    const { steps, files } = expandJob(s);
    assert.deepEqual(steps.map((x) => [x.name, x.kind, x.cmd[0]]), [['compile', 'compile', 'g++'], ['run', 'run', './main']]);
    assert.equal(steps[1]?.continueOnFailure, true);
    assert.deepEqual(files.map((f) => f.path), ['main.cpp']);
  });

  test('overrides replace any field of a preset step, limits and env merged', () => {
    const s = parseJobSpec({ preset: 'c', source: 'x', image: 'mygcc', overrides: { compile: { cmd: ['cc', 'main.c'], limits: { cpuMs: 99 } }, run: { env: { A: '1' } } } });
    const { steps } = expandJob(s);
    assert.equal(s.image, 'mygcc');
    assert.deepEqual(steps[0]?.cmd, ['cc', 'main.c']);
    assert.equal(steps[0]?.limits?.cpuMs, 99);
    assert.equal(steps[0]?.limits?.wallMs, 30_000, 'the preset\'s other limits stay');
    assert.deepEqual(steps[1]?.env, { A: '1' });
  });

  test('mistakes are named', () => {
    rejects({ preset: 'c' }, /source: a preset needs the program's source/);
    rejects({ preset: 'rust', source: 'x' }, /preset/);
    rejects({ cmd: ['x'], steps: [{ name: 'a', cmd: ['y'] }] }, /cmd: a job with steps or a preset has no top-level cmd/);
    rejects({ steps: [{ name: 'a', cmd: ['y'] }, { name: 'a', cmd: ['z'] }] }, /steps\.1\.name: two steps named a/);
    rejects({ steps: [{ name: 'a', cmd: ['y'], cases: [{ expected: '1' }], filesOut: ['x'] }] }, /steps\.0\.filesOut/);
    rejects({ steps: [{ name: 'a', cmd: ['y'], filesOut: ['../x'] }] }, /\.\./);
    rejects({ steps: [{ name: 'a', cmd: ['y'], filesOut: ['*/x'] }] }, /glob is allowed only in the last component/);
    rejects({ steps: [{ name: 'a', cmd: ['y'], compare: { mode: 'tokens' } }] }, /compare needs cases/);
    rejects({ steps: [{ name: 'a', cmd: ['y'], cases: [{ expected: '1' }], compare: { mode: 'float', absTol: -1 } }] }, /absTol/);
    rejects({ cmd: ['x'], cases: [{ expected: '1' }] }, /cases: only with a preset/);
    rejects({ steps: [{ name: 'a', cmd: ['y'], bogus: 1 }] }, /bogus/);
  });
});

describe('collect stream', () => {
  const caps = { maxBytes: 100, fileMaxBytes: 50, maxFiles: 10 };
  test('files, refusals and the end, with binary data and odd names', () => {
    const buf = Buffer.concat([
      Buffer.from('pattern 0\nfile 755 3 8\n/box/a\nx'), Buffer.from([0, 10, 255]),
      Buffer.from('refused symlink 40 9\n/box/l\nnk'),
      Buffer.from('pattern 1\nend 1 3\n'),
    ]);
    const c = parseCollected(buf, caps);
    assert.equal(c.complete, true);
    assert.deepEqual(c.files.map((f) => [f.path, f.mode, [...f.data], f.pattern]), [['/box/a\nx', 0o755, [0, 10, 255], 0]]);
    assert.deepEqual(c.refused, [{ path: '/box/l\nnk', reason: 'symlink', errno: 40, pattern: 0 }]);
  });

  test('broken framing or a file past the caps is an error, never trusted', () => {
    assert.throws(() => parseCollected(Buffer.from('file 644 10 2\n/a123'), caps), /truncated data/);
    assert.throws(() => parseCollected(Buffer.from('file 644 60 2\n/a'), caps), /past the caps/);
    assert.throws(() => parseCollected(Buffer.from('bogus\n'), caps), /unknown record/);
    assert.equal(parseCollected(Buffer.alloc(0), caps).complete, false);
  });
});
