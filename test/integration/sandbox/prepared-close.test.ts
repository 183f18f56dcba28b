// Sandboxes prepared ahead of their jobs hold host resources (a uid range claim,
// a job directory, a cgroup) before any job exists. runner.close() must give them
// all back before it resolves: a worker exits right after it (`cellblock worker`
// on shutdown, or when CellblockWorker.start fails just after the runner was made),
// and whatever is still in flight then stays on the host until the next start's
// reconcile.
// (A preparation that completed after close() began was once discarded without
// close() waiting for it.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { silentLogger } from '../../../src/log.ts';
import { createRunner } from '../../../src/sandbox/runner.ts';
import { assertNoLeaks, leftovers } from '../../helpers/leaks.ts';
import { prepareTestImage, SCOPE, TEST_STATE_DIR } from '../../helpers/sandbox.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const runnerWith = (prepared: number) => createRunner({ stateDir: TEST_STATE_DIR, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared });

// Each case starts clean: what a failing case left is removed (reconcile takes
// what a dead process owned; what this process still releases gets a moment).
afterEach(async () => {
  const cleaner = await runnerWith(0);
  await cleaner.reconcile();
  await cleaner.close();
  for (let i = 0; i < 40 && leftovers(SCOPE).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
});

test('a runner closed while its pool is still preparing leaves nothing once close() resolves', async () => {
  await prepareTestImage();
  for (let round = 1; round <= 3; round++) {
    const runner = await runnerWith(2);
    await runner.close();
    // No grace: close() is the promise that nothing is left.
    assert.deepEqual(leftovers(SCOPE), [], `round ${round}: close() resolved with sandboxes still held`);
  }
});

test('a worker that exits right after runner.close() leaves no cgroup, job directory or uid claim', async () => {
  await prepareTestImage();
  // What `cellblock worker` does on shutdown (and when the queue cannot be reached
  // just after the runner was made): close the runner, then exit.
  const opts = { stateDir: TEST_STATE_DIR, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent, prepared: 1 };
  const child = `
    import { createRunner } from ${JSON.stringify(path.join(REPO, 'src/sandbox/runner.ts'))};
    import { silentLogger } from ${JSON.stringify(path.join(REPO, 'src/log.ts'))};
    const runner = await createRunner({ ...${JSON.stringify(opts)}, log: silentLogger });
    await runner.close();
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  await assertNoLeaks(SCOPE);
});
