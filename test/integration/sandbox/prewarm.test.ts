// Launchers started ahead of demand: jobs run on them (one each, never reused),
// and closing the runner ends the ones still waiting.
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
