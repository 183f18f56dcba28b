// InterfaceFiles: each optional interface file is looked for once, never concluded absent
// from a cgroup that is itself missing; a driver's second job does no lookups at all.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { detectCgroupDriver } from '../../../src/cgroup/index.ts';
import { hostCgroupFs, type CgroupFs } from '../../../src/cgroup/fs.ts';
import { InterfaceFiles } from '../../../src/cgroup/interface-files.ts';
import { type FakeMachine, v1Machine, v2Machine } from './fixtures.ts';

const LIMITS = { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 32 };

/** The host's file system, counting exists() calls. */
function countingFs(): { fs: CgroupFs; lookups: string[] } {
  const lookups: string[] = [];
  return { fs: { ...hostCgroupFs, exists: (p) => (lookups.push(p), hostCgroupFs.exists(p)) }, lookups };
}

let dir: string | undefined;
let machine: FakeMachine | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  machine?.kernel.cleanup();
  dir = machine = undefined;
});

describe('InterfaceFiles', () => {
  it('looks each name up once, present or absent, whichever cgroup asks', () => {
    dir = mkdtempSync(join(tmpdir(), 'cellblock-iface-'));
    for (const job of ['a', 'b']) mkdirSync(join(dir, job));
    writeFileSync(join(dir, 'a', 'pids.peak'), '0\n');
    const { fs, lookups } = countingFs();
    const files = new InterfaceFiles(fs);
    assert.equal(files.has(join(dir, 'a', 'pids.peak')), true);
    assert.equal(files.has(join(dir, 'a', 'memory.peak')), false);
    lookups.length = 0;
    assert.equal(files.has(join(dir, 'b', 'pids.peak')), true);
    assert.equal(files.has(join(dir, 'b', 'memory.peak')), false);
    assert.deepEqual(lookups, []);
  });

  it('does not conclude a file is absent from a cgroup that does not exist', () => {
    dir = mkdtempSync(join(tmpdir(), 'cellblock-iface-'));
    const files = new InterfaceFiles(countingFs().fs);
    assert.equal(files.has(join(dir, 'gone', 'pids.peak')), false);
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'pids.peak'), '0\n');
    assert.equal(files.has(join(dir, 'b', 'pids.peak')), true);
  });

  for (const [version, make] of [['v1', v1Machine], ['v2', v2Machine]] as const) {
    it(`${version}: the driver's second job writes the same limits and reads the same stats with no lookups`, async () => {
      machine = make({});
      const lookups: string[] = [];
      const kernel = machine.kernel;
      const fs: CgroupFs = new Proxy(kernel, {
        get: (target, key, receiver) =>
          key === 'exists' ? (p: string) => (lookups.push(p), target.exists(p)) : (Reflect.get(target, key, receiver) as unknown),
      });
      const driver = detectCgroupDriver({ fsRoot: machine.fsRoot, procSelfCgroup: machine.procSelfCgroup, fs });
      const writes = (from: number): string[] => kernel.writes.slice(from).map((w) => `${w.path.split('/').pop()}=${w.data}`);
      const runJob = async (name: string): Promise<{ written: string[]; lookedUp: number }> => {
        const cgroup = driver.create(name);
        const [w0, l0] = [kernel.writes.length, lookups.length];
        cgroup.applyLimits(LIMITS);
        cgroup.stats();
        const out = { written: writes(w0), lookedUp: lookups.length - l0 };
        await cgroup.remove();
        return out;
      };
      const first = await runJob('job-1');
      const second = await runJob('job-2');
      assert.ok(first.lookedUp > 0, 'the first job looks the optional files up');
      assert.equal(second.lookedUp, 0);
      assert.deepEqual(second.written, first.written);
      assert.ok(first.written.length >= 4, `limits written: ${first.written.join(', ')}`);
    });
  }
});
