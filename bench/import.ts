// Cold start: how fast an image tarball becomes a usable rootfs. Builds a rootfs
// tarball of about BENCH_IMPORT_MB (default 100) MB: the busybox image plus
// generated files (thousands of small text files, some medium binaries with
// symlinks and hard links, a few large ones; the same bytes every run), then
// times, after one untimed run of each, BENCH_IMPORT_RUNS (default 3) runs of
// each, alternating which goes first:
//   - GNU `tar -x` of it into a fresh directory;
//   - ImageStore.importFile, what `cellblock image import FILE --name NAME` runs
//     (hash, then extract with checks, then rename into the store), each run into
//     a new, empty store, so every run is cold.
// Everything lives under /var/lib/cellblock-bench-import (same filesystem as the
// bench's state dirs) and is removed only at the end: on ext4 without a journal
// (as on this project's bench VM) file creation right after a mass delete is several
// times slower, so removing between runs would measure the filesystem, not the
// extractors. No cache is dropped, and the tarball is read through before the
// runs: it is in the page cache for both.
// Neither timing includes a sync (neither waits for its writes to reach the disk),
// but every run starts after one, outside the timing: no run pays for the
// writeback of the run before.
import { spawn, execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ImageStore } from '../src/image/store.ts';
import { silentLogger } from '../src/log.ts';
import type { Progress } from '../src/image/progress.ts';
import { median } from './stats.ts';

export interface ImportNumbers {
  tarballBytes: number;
  /** sha256 of the tarball (the image's digest): the same in every run with the same busybox image and GNU tar. */
  tarballDigest: string;
  /** Entries in the tarball (files, directories, links). */
  entries: number;
  runs: number;
  tarVersion: string;
  tarSeconds: number[];
  cellblockSeconds: number[];
  /** CPU (user + system) seconds of each run: tar's own; the bench process's during the import. */
  tarCpuSeconds: number[];
  cellblockCpuSeconds: number[];
  /** The untimed first run of each (not in the medians). */
  warmup: { tarSeconds: number; cellblockSeconds: number };
  /** Median seconds of each step cellblock reports (hashing, extracting), over the runs. */
  cellblockSteps: Record<string, number>;
  /** Tarball MB (10^6 bytes) per median second. */
  tarMBps: number;
  cellblockMBps: number;
  /** Median cellblock seconds over median tar seconds: how many times as long cellblock takes. */
  cellblockOverTar: number;
  /** The same from each one's fastest run (less sensitive to a noisy host). */
  bestCellblockOverTar: number;
  /** Median CPU seconds over median CPU seconds (does not count what the kernel writes back later). */
  cpuCellblockOverTar: number;
}

export interface ImportBenchOptions {
  /** The busybox image's rootfs tarball (images/build/busybox.tar). */
  busyboxTar: string;
  targetBytes?: number;
  runs?: number;
}

const ROOT = '/var/lib/cellblock-bench-import';
const IMAGE_NAME = 'bench-import:latest';
const BLOCK = 512;

/** A small deterministic PRNG (mulberry32): the same file set every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A size between lo and hi, uniform on a log scale (many small, few large). */
function logUniform(random: () => number, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo))));
}

/** Incompressible, deterministic bytes (AES-CTR keystream keyed by `name`), like a binary. */
function binaryContent(name: string, size: number): Buffer {
  const key = createHash('sha256').update(`cellblock-bench:${name}`).digest();
  return createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32)).update(Buffer.alloc(size));
}

/** Source-like text of about `size` bytes, deterministic from `random`. */
function textContent(random: () => number, size: number): string {
  const words = ['self', 'value', 'return', 'import', 'config', 'result', 'items', 'None', 'data', 'index', 'name', 'path'];
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const n = Math.floor(random() * 1e6);
    const line = `    ${words[n % words.length]}_${n % 97} = ${words[(n >> 4) % words.length]}(${n})  # ${words[(n >> 8) % words.length]}`;
    lines.push(line);
    length += line.length + 1;
  }
  return `${lines.join('\n')}\n`.slice(0, size);
}

/** Bytes an entry of `size` content bytes takes in a tar: header plus content padded to blocks. */
function tarBytes(size: number): number {
  return BLOCK + Math.ceil(size / BLOCK) * BLOCK;
}

/** A directory tree being made, and the bytes it will take in a tar. */
class Stage {
  bytes = 0;

  constructor(readonly dir: string) {}

  mkdir(rel: string): void {
    const p = path.join(this.dir, rel);
    fs.mkdirSync(p, { recursive: true });
    fs.chmodSync(p, 0o755);
    this.count(0);
  }

  write(rel: string, content: string | Buffer, mode: number): void {
    const p = path.join(this.dir, rel);
    fs.writeFileSync(p, content);
    fs.chmodSync(p, mode);
    this.count(Buffer.byteLength(content));
  }

  symlink(target: string, rel: string): void {
    fs.symlinkSync(target, path.join(this.dir, rel));
    this.count(0);
  }

  hardlink(existing: string, rel: string): void {
    fs.linkSync(path.join(this.dir, existing), path.join(this.dir, rel));
    this.count(0);
  }

  private count(size: number): void {
    this.bytes += tarBytes(size);
  }
}

/** Text of 64 B-16 KiB (log-uniform), like a source or documentation file. */
function smallText(random: () => number): string {
  return textContent(random, logUniform(random, 64, 16 << 10));
}

/**
 * Fills `stage` with about `budget` tar bytes: 4000 text files of 64 B-16 KiB
 * (200 packages of 16 modules in usr/lib/app and 4 documents in usr/share/doc),
 * 80 shared-library-like binaries of 32 KiB-2 MiB (each with a symlink, 8 with a
 * hard link), and three large data files in opt/data taking the rest.
 */
function generateTree(stage: Stage, budget: number): void {
  const random = prng(0xce11b10c);
  for (const dir of ['usr/lib', 'usr/lib/app', 'usr/share', 'usr/share/doc', 'opt']) stage.mkdir(dir);
  for (let p = 0; p < 200; p++) {
    const pkg = `pkg${String(p).padStart(3, '0')}`;
    stage.mkdir(`usr/lib/app/${pkg}`);
    for (let m = 0; m < 16; m++) stage.write(`usr/lib/app/${pkg}/mod${String(m).padStart(2, '0')}.py`, smallText(random), 0o644);
    stage.mkdir(`usr/share/doc/${pkg}`);
    for (const doc of ['README', 'NEWS', 'changelog', 'copyright']) stage.write(`usr/share/doc/${pkg}/${doc}`, smallText(random), 0o644);
  }
  stage.mkdir('usr/lib/app/native');
  for (let l = 0; l < 80; l++) {
    const lib = `usr/lib/app/native/libbench${l}.so.1.0`;
    stage.write(lib, binaryContent(lib, logUniform(random, 32 << 10, 2 << 20)), 0o755);
    stage.symlink(`libbench${l}.so.1.0`, `usr/lib/app/native/libbench${l}.so.1`);
    if (l % 10 === 0) stage.hardlink(lib, `usr/lib/app/native/libbench${l}-compat.so`);
  }
  stage.mkdir('opt/data');
  const rest = Math.max(0, budget - stage.bytes - 4 * BLOCK);
  for (const [i, share] of [0.5, 0.3, 0.2].entries()) {
    const file = `opt/data/blob${i}.bin`;
    stage.write(file, binaryContent(file, Math.floor((rest * share) / BLOCK) * BLOCK), 0o644);
  }
}

/** The busybox tarball with the generated tree (left in `stageDir`) appended: GNU tar, normalised owners, times and order. */
function buildTarball(busyboxTar: string, stageDir: string, out: string, targetBytes: number): { bytes: number; entries: number } {
  const stage = new Stage(stageDir);
  fs.mkdirSync(stage.dir);
  generateTree(stage, targetBytes - fs.statSync(busyboxTar).size);
  fs.copyFileSync(busyboxTar, out);
  const common = ['--format=gnu', '--sort=name', '--mtime=@0', '--numeric-owner', '--owner=0', '--group=0', '--no-acls', '--no-xattrs', '--no-selinux'];
  execFileSync('tar', ['-rf', out, ...common, '-C', stage.dir, 'opt', 'usr/lib', 'usr/share']);
  const entries = execFileSync('tar', ['-tf', out], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter(Boolean).length;
  return { bytes: fs.statSync(out).size, entries };
}

/**
 * Seconds a freed inode stays unusable on the filesystem holding `dir`: 60 on ext4
 * without a journal (ext4's recently_deleted(); a new inode is then found by
 * scanning past every inode freed in the last minute, which makes file creation
 * after a mass delete several times slower), else 0.
 */
function inodeReuseDelaySeconds(dir: string): number {
  const dev = fs.statSync(dir).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  try {
    const name = path.basename(fs.realpathSync(`/sys/dev/block/${major}:${minor}`));
    return fs.readFileSync(`/sys/fs/ext4/${name}/journal_task`, 'utf8').trim() === '<none>' ? 60 : 0;
  } catch {
    return 0; // not a block device's ext4
  }
}

/**
 * Reads `file` through, so that it is in the page cache for every run (a host may
 * evict page cache left idle, as this project's VMs do after about a minute).
 */
function readThrough(file: string): void {
  const buf = Buffer.alloc(1 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes back what earlier runs left dirty, so that no run pays for the one before. */
function settle(): void {
  execFileSync('sync');
}

/** Wall-clock and CPU (user + system) seconds of one run. */
interface Timed {
  seconds: number;
  cpuSeconds: number;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds of this process's children that have ended (cutime + cstime). */
function endedChildrenCpuSeconds(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 of proc(5)
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

function runTar(args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/** `tar -xf tarball -C dest`, timed (dest made and the disk settled first, outside the timing). */
async function timeTarExtract(tarball: string, dest: string): Promise<Timed> {
  fs.mkdirSync(dest);
  settle();
  const cpu0 = endedChildrenCpuSeconds();
  const t0 = performance.now();
  await runTar(['-xf', tarball, '-C', dest]);
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: endedChildrenCpuSeconds() - cpu0 };
}

/** A Progress that records how long each step took, by the step label's first word. */
function stepTimer(): Progress & { seconds: Map<string, number> } {
  const seconds = new Map<string, number>();
  let current: { name: string; started: number } | undefined;
  return {
    seconds,
    step(label) {
      current = { name: label.split(' ')[0] ?? label, started: performance.now() };
    },
    bytes() {},
    stepDone() {
      if (current !== undefined) seconds.set(current.name, (seconds.get(current.name) ?? 0) + (performance.now() - current.started) / 1000);
      current = undefined;
    },
  };
}

interface TimedImport extends Timed {
  /** Seconds of each step the import reported (hashing, extracting). */
  steps: Map<string, number>;
  digest: string;
}

/**
 * `cellblock image import` of `tarball` into a new, empty store under `stateDir`
 * (opened as the CLI opens it), timed; CPU is this whole process's, which does
 * nothing else meanwhile.
 */
async function timeCellblockImport(stateDir: string, tarball: string): Promise<TimedImport> {
  const store = new ImageStore(path.join(stateDir, 'images'), silentLogger, { jobsDir: path.join(stateDir, 'jobs') });
  const progress = stepTimer();
  settle();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const image = await store.importFile(tarball, IMAGE_NAME, { progress, allowSetuid: false });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (!fs.existsSync(path.join(image.rootfs, 'bin', 'busybox'))) throw new Error(`bench: the imported rootfs ${image.rootfs} has no /bin/busybox`);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, steps: progress.seconds, digest: image.digest };
}

/** "GNU tar 1.34" from `tar --version`'s "tar (GNU tar) 1.34". */
function tarVersion(): string {
  const first = execFileSync('tar', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? 'tar';
  const m = /\((.+)\) (\S+)/.exec(first);
  return m === null ? first : `${m[1]} ${m[2]}`;
}

function medianSteps(runs: Map<string, number>[]): Record<string, number> {
  const names = [...new Set(runs.flatMap((r) => [...r.keys()]))];
  return Object.fromEntries(names.map((n) => [n, median(runs.map((r) => r.get(n) ?? 0))]));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Before the runs: wait until what earlier benchmarks deleted `began` ago or
 * before can be reused (see inodeReuseDelaySeconds), with nothing left dirty and
 * the tarball in the page cache.
 */
async function quietDisk(began: number, tarball: string): Promise<void> {
  const waitMs = began + inodeReuseDelaySeconds(ROOT) * 1000 + 1000 - Date.now();
  if (waitMs > 1000) process.stderr.write(`bench: waiting ${Math.ceil(waitMs / 1000)} s for inodes freed by earlier benchmarks to be reusable (ext4 without a journal)\n`);
  settle();
  await sleep(Math.max(0, waitMs));
  readThrough(tarball);
}

/** `runs` of each, alternating which goes first (so neither always runs on the fuller disk), each into a directory or store of its own. */
async function alternatingRuns(tarball: string, runs: number): Promise<{ tar: Timed[]; cellblock: TimedImport[] }> {
  const tar: Timed[] = [];
  const cellblock: TimedImport[] = [];
  const oneTar = async (i: number): Promise<void> => void tar.push(await timeTarExtract(tarball, path.join(ROOT, `tar-x-${i}`)));
  const oneCellblock = async (i: number): Promise<void> => void cellblock.push(await timeCellblockImport(path.join(ROOT, `state-${i}`), tarball));
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      await oneTar(i);
      await oneCellblock(i);
    } else {
      await oneCellblock(i);
      await oneTar(i);
    }
  }
  return { tar, cellblock };
}

export async function benchImport(opts: ImportBenchOptions): Promise<ImportNumbers> {
  const began = Date.now();
  const targetBytes = opts.targetBytes ?? Number(process.env.BENCH_IMPORT_MB ?? 100) * 1e6;
  const runs = opts.runs ?? Number(process.env.BENCH_IMPORT_RUNS ?? 3);
  fs.rmSync(ROOT, { recursive: true, force: true });
  fs.mkdirSync(ROOT, { mode: 0o755 });
  try {
    const tarball = path.join(ROOT, 'image.tar');
    const built = buildTarball(opts.busyboxTar, path.join(ROOT, 'stage'), tarball, targetBytes);
    await quietDisk(began, tarball);
    // One untimed run of each first: the first large write after a pause is slower
    // on a VM whose idle memory the host has taken back.
    const warmTar = await timeTarExtract(tarball, path.join(ROOT, 'tar-x-warmup'));
    const warmCellblock = await timeCellblockImport(path.join(ROOT, 'state-warmup'), tarball);
    const timed = await alternatingRuns(tarball, runs);
    const secondsOf = (xs: Timed[]): number[] => xs.map((x) => x.seconds);
    const cpuOf = (xs: Timed[]): number[] => xs.map((x) => x.cpuSeconds);
    const mb = built.bytes / 1e6;
    const tarMedian = median(secondsOf(timed.tar));
    const cellblockMedian = median(secondsOf(timed.cellblock));
    return {
      tarballBytes: built.bytes,
      tarballDigest: warmCellblock.digest,
      entries: built.entries,
      runs,
      tarVersion: tarVersion(),
      tarSeconds: secondsOf(timed.tar),
      cellblockSeconds: secondsOf(timed.cellblock),
      tarCpuSeconds: cpuOf(timed.tar),
      cellblockCpuSeconds: cpuOf(timed.cellblock),
      warmup: { tarSeconds: warmTar.seconds, cellblockSeconds: warmCellblock.seconds },
      cellblockSteps: medianSteps(timed.cellblock.map((r) => r.steps)),
      tarMBps: mb / tarMedian,
      cellblockMBps: mb / cellblockMedian,
      cellblockOverTar: cellblockMedian / tarMedian,
      bestCellblockOverTar: Math.min(...secondsOf(timed.cellblock)) / Math.min(...secondsOf(timed.tar)),
      cpuCellblockOverTar: median(cpuOf(timed.cellblock)) / median(cpuOf(timed.tar)),
    };
  } finally {
    fs.rmSync(ROOT, { recursive: true, force: true });
  }
}
