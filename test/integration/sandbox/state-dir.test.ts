// The state directory as a fresh host gets it: created by `image build` or
// `image import` before any worker ran, private (0700). Jobs must still run, with
// their per-job state on the tmpfs the runner mounts at <state>/run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ImageStore } from '../../../src/image/store.ts';
import { silentLogger } from '../../../src/log.ts';
import { isTmpfs, runDirIn } from '../../../src/sandbox/run-dir.ts';
import { createRunner } from '../../../src/sandbox/runner.ts';
import { unmount } from '../../../src/sys/libc.ts';
import { assertNoLeaks } from '../../helpers/leaks.ts';
import { jobId, prepareTestImage, SCOPE, spec, TEST_IMAGE } from '../../helpers/sandbox.ts';

const CBTEST_TAR = fileURLToPath(new URL('../../../native/build/test/cbtest.tar', import.meta.url));

test('a private (0700) state dir made before the first worker still runs jobs', async () => {
  await prepareTestImage();
  const stateDir = fs.mkdtempSync('/var/tmp/cellblock-statedir-');
  try {
    fs.chmodSync(stateDir, 0o700);
    await new ImageStore(path.join(stateDir, 'images'), silentLogger).importTarball(CBTEST_TAR, TEST_IMAGE);
    const runner = await createRunner({ stateDir, log: silentLogger, uidBase: SCOPE.uidBase, uidRanges: SCOPE.uidRanges, cgroupParent: SCOPE.cgroupParent });
    const r = await runner.run(spec({ cmd: ['echo', 'ok'] }), { jobId: jobId('statedir') });
    await runner.close();
    assert.equal(r.verdict, 'OK', r.message);
    assert.equal(fs.statSync(stateDir).mode & 0o777, 0o711);
    assert.ok(isTmpfs(runDirIn(stateDir)), 'run/ is a tmpfs');
    assert.equal(fs.statSync(runDirIn(stateDir)).mode & 0o777, 0o711);
    await assertNoLeaks({ ...SCOPE, stateDir });
  } finally {
    if (fs.existsSync(runDirIn(stateDir)) && isTmpfs(runDirIn(stateDir))) unmount(runDirIn(stateDir));
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
