// The pool of sandboxes prepared ahead, with fakes for the launcher and cgroups
// (uid ranges and job directories are real, in a temp dir): a job that finds none
// ready takes the one being prepared, and is not left waiting when that fails;
// with every uid range taken the pool waits for one to come back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import type { CgroupDriver, JobCgroup } from '../../../src/cgroup/index.ts';
import { silentLogger } from '../../../src/log.ts';
import type { LauncherServer, PreparedLaunch } from '../../../src/sandbox/launcher-server.ts';
import { currentOwner } from '../../../src/sandbox/owner.ts';
import { SandboxPool } from '../../../src/sandbox/sandbox-pool.ts';
import { UidRanges } from '../../../src/sandbox/uid-ranges.ts';

let root: string | undefined;
afterEach(() => {
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function makePool(ranges: number): { pool: SandboxPool; uids: UidRanges; launched: () => number } {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-pool-'));
  const owner = currentOwner();
  const uids = new UidRanges(path.join(root, 'uids'), 0x60000000, ranges, owner);
  let launched = 0;
  const launchers = {
    prepare: (): PreparedLaunch => {
      launched++;
      return { alive: true, discard: async () => {}, gone: Promise.resolve() } as unknown as PreparedLaunch;
    },
  } as unknown as LauncherServer;
  const cgroups = {
    open: (name: string): JobCgroup => ({ name, dirs: [], remove: async () => {} }) as unknown as JobCgroup,
  } as unknown as CgroupDriver;
  const jobsRoot = path.join(root, 'jobs');
  fs.mkdirSync(jobsRoot);
  const pool = new SandboxPool({ launchers, cgroups, uids, jobsRoot, owner, log: silentLogger }, 1);
  return { pool, uids, launched: () => launched };
}

test('a take while the only sandbox is being prepared gets that one, not one of its own', async () => {
  const { pool, launched } = makePool(4);
  pool.fill();
  const sandbox = await pool.take();
  assert.match(sandbox.id, /-1$/);
  assert.equal(launched(), 1, 'none prepared for the take itself');
  await pool.discard(sandbox);
  await pool.close();
  assert.equal(launched(), 2, 'the pool refilled (and close discarded that one)');
});

test('a take waiting for a preparation that fails is not left waiting: it tries its own', { timeout: 5000 }, async () => {
  const { pool, uids } = makePool(1);
  await uids.acquire(); // the only range: every preparation fails
  pool.fill();
  await assert.rejects(pool.take(), /uid ranges are in use/);
  await pool.close();
});

test('once every uid range was found taken, the pool prepares nothing until one is given back', async () => {
  const { pool, uids, launched } = makePool(1);
  const held = await uids.acquire();
  let attempts = 0;
  const acquire = uids.acquire.bind(uids);
  uids.acquire = async () => {
    attempts++;
    return acquire();
  };
  pool.fill();
  await assert.rejects(pool.take(), /uid ranges are in use/);
  await assert.rejects(pool.take(), /uid ranges are in use/);
  assert.equal(attempts, 3, "the pool's one, then each take's own: no background retries");
  await uids.release(held);
  for (let i = 0; i < 100 && launched() === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(launched(), 1, 'prepared again once a range came back');
  await pool.close();
});
