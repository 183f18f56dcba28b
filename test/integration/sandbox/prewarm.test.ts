// Launchers started ahead of demand: jobs run on them (one each, never reused),
// and closing the runner ends the ones still waiting. And the setup deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/log.ts';
import { createRunner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks, leftovers } from '../../helpers/leaks.ts';
import { jobId, prepareTestImage, SCOPE, spec, TEST_STATE_DIR } from '../../helpers/sandbox.ts';

test('pre-started launchers run jobs, and none is left after close', async () => {
  await prepareTestImage();
  const runner = await createRunner({ stateDir: TEST_STATE_DIR, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prewarm: 2 });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(leftovers(SCOPE).filter((p) => p.startsWith('processes:')).length, 1, 'two launchers wait for jobs');
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => runner.run(spec({ cmd: ['sh', '-c', `echo ${i}; cat /proc/self/uid_map`] }), { jobId: jobId(`warm${i}`) })));
  results.forEach((r, i) => {
    assert.equal(r.verdict, 'OK', r.message);
    assert.match(r.stdout, new RegExp(`^${i + 1}\\n`));
  });
  await runner.close();
  await assertNoLeaks(SCOPE);
});

test('a sandbox that does not start its job in time is killed and reported as our fault', async () => {
  await prepareTestImage();
  // 1 ms: no launcher gets that far; the kill must still land once the job has joined its cgroup.
  const runner = await createRunner({ stateDir: TEST_STATE_DIR, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, setupTimeoutMs: 1 });
  const r = await runner.run(spec({ cmd: ['sleep', '30'] }), { jobId: jobId('stuck') });
  await runner.close();
  assert.equal(r.verdict, 'INTERNAL_ERROR');
  assert.match(r.message ?? '', /did not start the job within 1 ms/);
  assert.ok(r.stats.wallMs < 5000, `killed, not left to sleep: ${r.stats.wallMs} ms`);
  await assertNoLeaks(SCOPE);
});
