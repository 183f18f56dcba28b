// The judge end to end: real Redis, the BullMQ worker, real sandboxes on the
// toolchain image. A+B in C, C++, Python and bash against cases with one wrong
// expectation; a compile error; a checker with a float tolerance; files copied
// out of the workspace; a planted symlink to /etc/passwd that is not followed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { after, afterEach, before, describe, test } from 'node:test';
import { buildRecipe } from '../../../src/image/recipes.ts';
import { ImageStore } from '../../../src/image/store.ts';
import type { JobSpecInput } from '../../../src/job/spec.ts';
import { silentLogger } from '../../../src/log.ts';
import { CellblockClient } from '../../../src/queue/client.ts';
import { CellblockWorker } from '../../../src/queue/worker.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { uniqueQueueName } from '../../helpers/names.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { SCOPE, TEST_STATE_DIR, testRunner } from '../../helpers/sandbox.ts';

let redis: TestRedis;
let admin: Redis;
let worker: CellblockWorker;
let client: CellblockClient;
let queueName: string;
let resultsDir: string;

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  await buildRecipe('toolchain', { store: new ImageStore(path.join(TEST_STATE_DIR, 'images'), silentLogger), log: silentLogger });
  queueName = uniqueQueueName('judge');
  resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-results-'));
  worker = await CellblockWorker.start({ redis: redis.url, queueName, runner: await testRunner(), workerId: 'judge-worker', concurrency: 2, log: silentLogger, resultsDir });
  client = new CellblockClient({ redis: redis.url, queueName, log: silentLogger });
});
after(async () => {
  await client.close();
  await worker.close();
  const queue = new Queue(queueName, { connection: admin });
  await queue.obliterate({ force: true });
  await queue.close();
  await admin.quit();
  await redis.stop();
  fs.rmSync(resultsDir, { recursive: true, force: true });
});
afterEach(() => assertNoLeaks(SCOPE));

const run = (spec: JobSpecInput) => client.run(spec, 120_000);

/** A+B: three right cases and one whose expectation is wrong (so WRONG_ANSWER). */
const CASES = [
  { name: 'small', stdin: '1 2\n', expected: '3\n' },
  { name: 'negative', stdin: '-5 3\n', expected: '-2' },
  { name: 'wrong', stdin: '2 2\n', expected: '5\n' },
  { name: 'big', stdin: '1000000 2000000\n', expected: '3000000\n' },
];

const SOURCES: Record<'c' | 'cpp' | 'python3' | 'bash', string> = {
  c: '#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 1;printf("%ld\\n",a+b);return 0;}\n',
  cpp: '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n',
  python3: 'a, b = map(int, input().split())\nprint(a + b)\n',
  bash: 'read a b\necho $((a + b))\n',
};

describe('judge through the queue', () => {
  for (const preset of ['c', 'cpp', 'python3', 'bash'] as const) {
    test(`A+B in ${preset}: per-case verdicts, one WRONG_ANSWER`, { timeout: 120_000 }, async () => {
      const r = await run({ preset, source: SOURCES[preset], cases: CASES });
      assert.equal(r.verdict, 'WRONG_ANSWER', r.message);
      assert.match(r.message ?? '', /step run: case wrong: WRONG_ANSWER .*line 1: expected "5", got "4".*3 of 4 passed/);
      assert.deepEqual(r.steps?.map((s) => [s.name, s.kind, s.verdict]), [['compile', 'compile', 'OK'], ['run', 'run', 'WRONG_ANSWER']]);
      const cases = r.steps?.[1]?.cases ?? [];
      assert.deepEqual(cases.map((c) => [c.name, c.verdict]), [['small', 'OK'], ['negative', 'OK'], ['wrong', 'WRONG_ANSWER'], ['big', 'OK']]);
      assert.equal(cases[2]?.stdout, '4\n');
      assert.deepEqual({ ...r.summary, maxWallMs: 0, maxCpuMs: 0, maxMemoryBytes: 0 }, { total: 4, passed: 3, failed: 1, skipped: 0, maxWallMs: 0, maxCpuMs: 0, maxMemoryBytes: 0 });
      assert.ok((r.summary?.maxMemoryBytes ?? 0) > 0);
      assert.equal(r.image.name, 'toolchain');
    });
  }

  test('a compile error is COMPILE_ERROR with the compiler\'s message; the run step is skipped', { timeout: 120_000 }, async () => {
    const r = await run({ preset: 'c', source: 'int main(void) { return undefined_thing; }\n', cases: CASES });
    assert.equal(r.verdict, 'COMPILE_ERROR');
    assert.match(r.message ?? '', /step compile: compilation failed .*\n.*main\.c:1:.*undefined_thing/s);
    assert.match(r.stderr, /error: .undefined_thing. undeclared/);
    assert.deepEqual(r.steps?.map((s) => s.verdict), ['COMPILE_ERROR', 'SKIPPED']);
  });

  test('a Python syntax error is COMPILE_ERROR too', { timeout: 120_000 }, async () => {
    const r = await run({ preset: 'python3', source: 'print(1 +\n', cases: CASES });
    assert.equal(r.verdict, 'COMPILE_ERROR');
    assert.match(r.message ?? '', /SyntaxError/);
  });

  test('a checker in its own sandbox accepts floats within a tolerance', { timeout: 120_000 }, async () => {
    const checker = [
      'import sys',
      'inp, exp, act = (open(p).read().split() for p in sys.argv[1:4])',
      'if len(exp) != len(act): print("count differs"); sys.exit(1)',
      'for e, a in zip(exp, act):',
      '    if abs(float(e) - float(a)) > 1e-3: print(f"{a} is not {e}"); sys.exit(1)',
      'print("ok")',
    ].join('\n');
    const r = await run({
      preset: 'python3',
      source: 'import sys\nx = float(input())\nprint(x / 3)\n',
      cases: [
        { name: 'third', stdin: '1\n', expected: '0.333' },
        { name: 'off', stdin: '2\n', expected: '0.7' },
        { name: 'nine', stdin: '9\n', expected: '3.0001' },
      ],
      compare: { checker: { cmd: ['python3', 'check.py'], files: [{ path: 'check.py', content: checker }] } },
    });
    assert.equal(r.verdict, 'WRONG_ANSWER', r.message);
    const cases = r.steps?.[1]?.cases ?? [];
    assert.deepEqual(cases.map((c) => c.verdict), ['OK', 'WRONG_ANSWER', 'OK']);
    assert.equal(cases[0]?.checkerOutput, 'ok');
    assert.match(cases[1]?.message ?? '', /checker: 0\.666.* is not 0\.7/);
  });

  test('a checker that crashes is CHECKER_ERROR', { timeout: 120_000 }, async () => {
    const r = await run({
      preset: 'bash',
      source: 'echo 1\n',
      cases: [{ stdin: '', expected: '1' }],
      compare: { checker: { cmd: ['sh', '-c', 'exit 3'] } },
    });
    assert.equal(r.verdict, 'CHECKER_ERROR');
    assert.match(r.message ?? '', /checker: RUNTIME_ERROR \(exit code 3\)/);
  });

  test('steps share the workspace; files and globs are copied out; a planted symlink to /etc/passwd is not followed', { timeout: 120_000 }, async () => {
    const r = await run({
      image: 'toolchain',
      files: [{ path: 'gen.sh', content: 'mkdir -p out; for i in 1 2 3; do echo "n=$i" > out/r$i.txt; done\n' }],
      steps: [
        { name: 'build', cmd: ['sh', '-c', 'sh gen.sh && printf "#!/bin/sh\\necho built-tool \\$1\\n" > tool && chmod 755 tool && ln -s /etc/passwd leak && ln -s /etc out/etc'] },
        { name: 'use', cmd: ['sh', '-c', './tool ok > result.txt; cat out/r2.txt; ls -la; test ! -e leak'], filesOut: ['result.txt', 'out/*.txt', 'leak', 'out/etc', 'missing.bin', 'tool'] },
      ],
    });
    assert.equal(r.verdict, 'OK', `${r.message} ${r.stderr} ${r.stdout}`);
    assert.match(r.stdout, /n=2/);
    const files = new Map((r.files ?? []).map((f) => [f.path, f]));
    assert.deepEqual([...files.keys()].sort(), ['/box/out/r1.txt', '/box/out/r2.txt', '/box/out/r3.txt', '/box/result.txt', '/box/tool']);
    assert.equal(Buffer.from(files.get('/box/result.txt')?.contentBase64 ?? '', 'base64').toString(), 'built-tool ok\n');
    assert.equal(files.get('/box/tool')?.mode, 0o755, 'modes survive from step to step');
    assert.equal(files.get('/box/result.txt')?.step, 'use');
    const refused = new Map((r.steps?.[1]?.filesRefused ?? []).map((f) => [f.path, f.reason]));
    assert.deepEqual(Object.fromEntries(refused), { '/box/leak': 'not_found', '/box/out/etc': 'not_found', '/box/missing.bin': 'not_found' });
    assert.ok(!JSON.stringify(r).includes('root:x:0:0'), 'nothing of /etc/passwd in the result');
  });

  test('a symlink the job plants in the step that copies out is refused, not followed', { timeout: 120_000 }, async () => {
    const r = await run({
      image: 'toolchain',
      steps: [{ name: 'plant', cmd: ['sh', '-c', 'ln -s /etc/passwd leak && mkdir d && ln -s /etc/passwd d/p.txt && echo hi > d/ok.txt && ln -s / d/root'], filesOut: ['leak', 'd/*.txt', 'd/root/etc/passwd'] }],
    });
    assert.equal(r.verdict, 'OK', r.message);
    assert.deepEqual((r.files ?? []).map((f) => f.path), ['/box/d/ok.txt']);
    const refused = Object.fromEntries((r.steps?.[0]?.filesRefused ?? []).map((f) => [f.path, f.reason]));
    assert.deepEqual(refused, { '/box/leak': 'symlink', '/box/d/p.txt': 'symlink', '/box/d/root/etc/passwd': 'symlink' });
    assert.ok(!JSON.stringify(r).includes('root:x:0:0'));
  });

  test('a file out too large for the result is written to the results directory', { timeout: 120_000 }, async () => {
    const r = await run({
      image: 'toolchain',
      steps: [{ name: 'make', cmd: ['sh', '-c', 'head -c 3145728 /dev/zero | tr "\\0" x > big.txt && echo small > small.txt'], filesOut: ['big.txt', 'small.txt'] }],
    });
    assert.equal(r.verdict, 'OK', r.message);
    const big = (r.files ?? []).find((f) => f.path === '/box/big.txt');
    const small = (r.files ?? []).find((f) => f.path === '/box/small.txt');
    assert.equal(Buffer.from(small?.contentBase64 ?? '', 'base64').toString(), 'small\n');
    assert.ok(big?.resultPath !== undefined && big.resultPath.startsWith(resultsDir), JSON.stringify(big));
    assert.equal(big.contentBase64, undefined);
    const written = fs.readFileSync(big.resultPath);
    assert.equal(written.length, 3 * 1024 * 1024);
    assert.ok(written.every((b) => b === 0x78));
  });

  test('a failed step stops the job unless it says otherwise', { timeout: 120_000 }, async () => {
    const r = await run({
      image: 'toolchain',
      steps: [
        { name: 'a', cmd: ['sh', '-c', 'exit 2'], continueOnFailure: true },
        { name: 'b', cmd: ['sh', '-c', 'exit 3'] },
        { name: 'c', cmd: ['true'] },
      ],
    });
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.message, 'step a: exit code 2');
    assert.deepEqual(r.steps?.map((s) => s.verdict), ['RUNTIME_ERROR', 'RUNTIME_ERROR', 'SKIPPED']);
  });

  test('cases after a failed one are skipped without continueOnFailure; per-step limits apply', { timeout: 120_000 }, async () => {
    const r = await run({
      image: 'toolchain',
      steps: [{ name: 'run', cmd: ['sh', '-c', 'read n; if [ "$n" = spin ]; then while :; do :; done; fi; echo $n'], limits: { cpuMs: 300, wallMs: 5000 }, cases: [
        { stdin: 'a\n', expected: 'a' }, { stdin: 'spin\n', expected: '' }, { stdin: 'c\n', expected: 'c' },
      ] }],
    });
    assert.equal(r.verdict, 'TIME_LIMIT');
    assert.deepEqual(r.steps?.[0]?.cases?.map((c) => c.verdict), ['OK', 'TIME_LIMIT', 'SKIPPED']);
    assert.equal(r.summary?.skipped, 1);
  });
});
