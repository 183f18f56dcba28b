// Run by scripts/run-tests.mjs after the suite: the suite's sandboxes made a tmpfs at
// <test state dir>/run; with every sandbox gone it holds no state, and the suite leaves
// no mount behind. State still in it is a leak: reported, and the suite fails.
import { releaseRunDir, runDirIn } from '../../src/sandbox/run-dir.ts';
import { TEST_STATE_DIR } from './sandbox.ts';

const outcome = await releaseRunDir(TEST_STATE_DIR);
if (outcome === 'holds-state') {
  console.error(`leak: ${runDirIn(TEST_STATE_DIR)} still holds job directories or uid claims after the suite`);
  process.exitCode = 1;
}
