// Hands out host uid/gid ranges, one per running job, so no two jobs on a host
// (even of different workers) share ids. A claim is a record of its owner at
// uids/<index> (a symlink: one call, atomic across processes, EEXIST when the
// range is taken); a dead owner's claims are taken back by reconcile.
import fs from 'node:fs';
import path from 'node:path';
import { CellblockError, errnoCode } from '../errors.ts';
import { isAlive, readOwner, writeOwner, type Owner } from './owner.ts';

export const RANGE_SIZE = 65536;

export interface UidRange {
  index: number;
  /** First host id: container uid 0 maps to it. */
  base: number;
  count: number;
}

export class UidRanges {
  private next = 0;
  private heldHere = 0;
  private readonly onRelease: (() => void)[] = [];

  constructor(
    private readonly dir: string,
    private readonly base: number,
    private readonly ranges: number,
    private readonly owner: Owner,
  ) {
    if (base < RANGE_SIZE || base + ranges * RANGE_SIZE > 0xfffffffe) {
      throw new CellblockError('INVALID_CONFIG', `uid ranges ${base}..${base + ranges * RANGE_SIZE} do not fit in host ids 65536..4294967294`);
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** A free range, claimed for this owner (file-system work off the event loop). */
  async acquire(): Promise<UidRange> {
    for (let tried = 0; tried < this.ranges; tried++) {
      const index = (this.next + tried) % this.ranges;
      try {
        await writeOwner(path.join(this.dir, String(index)), this.owner);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') continue;
        throw err;
      }
      this.next = (index + 1) % this.ranges;
      this.heldHere++;
      return { index, base: this.base + index * RANGE_SIZE, count: RANGE_SIZE };
    }
    throw new CellblockError('NO_UID_RANGE', `all ${this.ranges} uid ranges are in use: raise CELLBLOCK_UID_RANGES or run fewer jobs at once`);
  }

  async release(range: UidRange): Promise<void> {
    try {
      await fs.promises.unlink(path.join(this.dir, String(range.index)));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    } finally {
      // A claim that could not be removed is reconcile's now: not one to wait for here.
      this.heldHere--;
      for (const resolve of this.onRelease.splice(0)) resolve();
    }
  }

  /** Ranges acquired here and not released yet: each comes back with a release() here. */
  get held(): number {
    return this.heldHere;
  }

  /** Resolves at the next release() here. */
  nextRelease(): Promise<void> {
    return new Promise((resolve) => this.onRelease.push(resolve));
  }

  /** Take back claims whose owner is gone. Returns how many. */
  reclaimDead(): number {
    let n = 0;
    for (const name of fs.readdirSync(this.dir)) {
      const claim = path.join(this.dir, name);
      const owner = readOwner(claim);
      // A claim is made whole in one call: one that names no owner is no claim of ours
      // (a stray file, say); taken away once it is old.
      if (owner ? !isAlive(owner) : isOlderThan(claim, 60_000)) {
        fs.rmSync(claim, { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }
}

function isOlderThan(p: string, ms: number): boolean {
  try {
    return Date.now() - fs.lstatSync(p).mtimeMs > ms;
  } catch {
    return false;
  }
}
