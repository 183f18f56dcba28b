// A job's limits as writes for the launcher (limitWrites): exactly what applyLimits writes,
// in the same order, each a plain file of one of the cgroup's own directories.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import { type FakeMachine, v1Machine, v2Machine } from './fixtures.ts';

const LIMITS = { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 32 };

let machine: FakeMachine | undefined;
afterEach(() => {
  machine?.kernel.cleanup();
  machine = undefined;
});

describe('limitWrites', () => {
  for (const [version, make] of [['v1', v1Machine], ['v2', v2Machine]] as const) {
    it(`${version}: names what applyLimits writes, in its order, as files of the cgroup's own directories`, async () => {
      machine = make({});
      const kernel = machine.kernel;
      const driver = detectCgroupDriver({ fsRoot: machine.fsRoot, procSelfCgroup: machine.procSelfCgroup, fs: kernel });
      const cgroup = driver.create('job-1');
      const writes = cgroup.limitWrites(LIMITS);
      const from = kernel.writes.length;
      cgroup.applyLimits(LIMITS);
      assert.deepEqual(
        writes.map((w) => ({ path: join(cgroup.dirs[w.dir]!, w.file), data: w.value })),
        kernel.writes.slice(from).map((w) => ({ path: w.path, data: w.data })),
      );
      for (const w of writes) assert.doesNotMatch(w.file, /\//);
      assert.deepEqual(writes.filter((w) => w.optional).map((w) => w.file), version === 'v1' ? ['memory.swappiness'] : []);
      assert.ok(writes.some((w) => w.file === 'pids.max' && w.value === '32'));
      await cgroup.remove();
    });

    it(`${version}: refuses limits that are not positive numbers`, () => {
      machine = make({});
      const driver = detectCgroupDriver({ fsRoot: machine.fsRoot, procSelfCgroup: machine.procSelfCgroup, fs: machine.kernel });
      assert.throws(() => driver.open('job-2').limitWrites({ ...LIMITS, pids: 0 }), /invalid cgroup limits \(pids=0\)/);
    });
  }
});
