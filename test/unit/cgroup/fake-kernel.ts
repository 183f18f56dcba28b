// A fake cgroup kernel on a temp dir, implementing CgroupFs with the kernel behaviours the
// drivers rely on: mkdir fills in interface files, control files cannot be created, pids
// move between cgroups of a hierarchy, v2 "no internal process" and top-down rules,
// cgroup.kill / freeze / freezer.state, rmdir refusing busy cgroups, signals that kill.

import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { CgroupFs } from '../../../src/cgroup/fs.ts';

export interface V1Features {
  /** memory.memsw.* present (swap accounting on). Default true. */
  memsw?: boolean;
  /** cpuacct.usage_user/usage_sys present (4.7+). Default true. */
  cpuacctSplit?: boolean;
  /** Reads of freezer.state that say FREEZING after each FROZEN write. Default 0. */
  freezingReads?: number;
  /** pids.peak present (6.1+ kernels serve it on v1 too). Default false. */
  pidsPeak?: boolean;
}

export interface V2Features {
  cgroupKill?: boolean; // 5.14+
  cgroupFreeze?: boolean; // 5.2+
  memoryPeak?: boolean; // 5.19+
  pidsPeak?: boolean; // 6.1+
  swapMax?: boolean; // swap accounting
}

type Mount =
  | { dir: string; version: 1; controllers: string[]; features: Required<V1Features> }
  | { dir: string; version: 2; features: Required<V2Features> };

function sysError(code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: fake kernel, ${op} '${path}'`), { code });
}

const V1_FILES: Record<string, (f: Required<V1Features>) => Record<string, string>> = {
  memory: (f) => ({
    'memory.limit_in_bytes': '9223372036854771712\n',
    ...(f.memsw ? { 'memory.memsw.limit_in_bytes': '9223372036854771712\n', 'memory.memsw.max_usage_in_bytes': '0\n' } : {}),
    'memory.swappiness': '60\n',
    'memory.max_usage_in_bytes': '0\n',
    'memory.usage_in_bytes': '0\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
  }),
  cpu: () => ({ 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.shares': '1024\n' }),
  cpuacct: (f) => ({
    'cpuacct.usage': '0\n',
    ...(f.cpuacctSplit ? { 'cpuacct.usage_user': '0\n', 'cpuacct.usage_sys': '0\n' } : {}),
    'cpuacct.stat': 'user 0\nsystem 0\n',
  }),
  pids: (f) => ({ 'pids.max': 'max\n', 'pids.current': '0\n', ...(f.pidsPeak ? { 'pids.peak': '0\n' } : {}) }),
  freezer: () => ({ 'freezer.state': 'THAWED\n' }),
  blkio: () => ({
    'blkio.throttle.io_service_bytes_recursive': 'Total 0\n',
    'blkio.throttle.io_service_bytes': 'Total 0\n',
  }),
};

const V2_FILES: Record<string, (f: Required<V2Features>) => Record<string, string>> = {
  memory: (f) => ({
    'memory.max': 'max\n',
    'memory.current': '0\n',
    ...(f.memoryPeak ? { 'memory.peak': '0\n' } : {}),
    ...(f.swapMax ? { 'memory.swap.max': 'max\n', 'memory.swap.current': '0\n' } : {}),
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
    'memory.events.local': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
  }),
  cpu: () => ({ 'cpu.max': 'max 100000\n', 'cpu.weight': '100\n' }),
  pids: (f) => ({ 'pids.max': 'max\n', 'pids.current': '0\n', ...(f.pidsPeak ? { 'pids.peak': '0\n' } : {}) }),
  io: () => ({ 'io.stat': '', 'io.max': '' }),
};

export class FakeKernel implements CgroupFs {
  readonly root: string;
  /** Every successful write, in order. */
  readonly writes: { path: string; data: string }[] = [];
  readonly signals: { pid: number; signal: string }[] = [];
  /** pids that ignore SIGKILL (a task stuck in uninterruptible sleep). */
  readonly unkillable = new Set<number>();
  private readonly mounts: Mount[] = [];
  private readonly freezingLeft = new Map<string, number>();

  constructor() {
    this.root = nodeFs.mkdtempSync(join(tmpdir(), 'cellblock-fake-cgroup-'));
  }

  cleanup(): void {
    nodeFs.rmSync(this.root, { recursive: true, force: true });
  }

  // ---- setting up the machine -------------------------------------------------------

  mountV1(dir: string, controllers: string[], features: V1Features = {}): string {
    const f = { memsw: true, cpuacctSplit: true, freezingReads: 0, pidsPeak: false, ...features };
    nodeFs.mkdirSync(dir, { recursive: true });
    this.mounts.push({ dir, version: 1, controllers, features: f });
    this.populateV1(dir, controllers, f);
    return dir;
  }

  mountV2(dir: string, controllers: string[], features: V2Features = {}): string {
    const f = { cgroupKill: true, cgroupFreeze: true, memoryPeak: true, pidsPeak: true, swapMax: true, ...features };
    nodeFs.mkdirSync(dir, { recursive: true });
    this.mounts.push({ dir, version: 2, features: f });
    // The root cgroup: no cgroup.type, cgroup.events or controller interface files.
    this.put(dir, {
      'cgroup.controllers': `${controllers.join(' ')}\n`,
      'cgroup.subtree_control': '\n',
      'cgroup.procs': '',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
    });
    return dir;
  }

  /** mkdir -p through the fake kernel (each level gets its interface files). */
  mkdirp(path: string): void {
    if (nodeFs.existsSync(path)) return;
    this.mkdirp(dirname(path));
    this.mkdir(path);
  }

  /** Overwrite a file as the kernel would update a counter. */
  set(path: string, content: string): void {
    if (!nodeFs.existsSync(path)) throw new Error(`fake kernel: no file ${path}`);
    nodeFs.writeFileSync(path, content);
  }

  /** A process appears in a cgroup (v1: in this one hierarchy). */
  addProcess(cgroupDir: string, pid: number): void {
    this.writeFile(join(cgroupDir, 'cgroup.procs'), String(pid));
  }

  /** Every (dir, pids) of a mount that holds processes. */
  processesIn(mountDir: string): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const dir of this.walk(mountDir)) {
      const pids = this.procs(dir);
      if (pids.length > 0) out.set(dir, pids);
    }
    return out;
  }

  // ---- CgroupFs ---------------------------------------------------------------------

  readFile(path: string): string {
    if (basename(path) === 'freezer.state') {
      const left = this.freezingLeft.get(path) ?? 0;
      if (left > 0) {
        this.freezingLeft.set(path, left - 1);
        return 'FREEZING\n';
      }
    }
    return nodeFs.readFileSync(path, 'utf8');
  }

  exists(path: string): boolean {
    return nodeFs.existsSync(path);
  }

  listDirs(path: string): string[] {
    return nodeFs
      .readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  }

  mkdir(path: string): void {
    const mount = this.mountOf(path);
    nodeFs.mkdirSync(path); // EEXIST / ENOENT as the kernel would
    if (mount.version === 1) {
      this.populateV1(path, mount.controllers, mount.features);
      return;
    }
    const enabled = this.words(join(dirname(path), 'cgroup.subtree_control'));
    this.put(path, {
      'cgroup.procs': '',
      'cgroup.controllers': `${enabled.join(' ')}\n`,
      'cgroup.subtree_control': '\n',
      'cgroup.events': 'populated 0\nfrozen 0\n',
      'cgroup.type': 'domain\n',
      'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\n',
      ...(mount.features.cgroupFreeze ? { 'cgroup.freeze': '0\n' } : {}),
      ...(mount.features.cgroupKill ? { 'cgroup.kill': '' } : {}),
    });
    for (const c of enabled) this.put(path, V2_FILES[c]?.(mount.features) ?? {});
  }

  rmdir(path: string): void {
    if (!nodeFs.existsSync(path)) throw sysError('ENOENT', 'rmdir', path);
    if (this.listDirs(path).length > 0 || this.procs(path).length > 0) throw sysError('EBUSY', 'rmdir', path);
    nodeFs.rmSync(path, { recursive: true });
  }

  removeDir(path: string): Promise<void> {
    try {
      this.rmdir(path);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    if (!this.allCgroupDirs().some((d) => this.procs(d).includes(pid))) throw sysError('ESRCH', 'kill', String(pid));
    this.signals.push({ pid, signal });
    if (signal === 'SIGKILL' && !this.unkillable.has(pid)) this.exit(pid);
  }

  writeFile(path: string, data: string): void {
    if (!nodeFs.existsSync(path)) throw sysError('ENOENT', 'open', path);
    const dir = dirname(path);
    const mount = this.mountOf(path);
    const name = basename(path);
    if (name === 'cgroup.procs') this.movePid(mount, dir, Number(data));
    else if (mount.version === 2 && name === 'cgroup.subtree_control') this.subtreeControl(dir, data);
    else if (mount.version === 2 && name === 'cgroup.kill') {
      for (const d of this.walk(dir)) for (const pid of this.procs(d)) this.kill(pid, 'SIGKILL');
    } else if (mount.version === 2 && name === 'cgroup.freeze') {
      this.setEvent(dir, 'frozen', data.trim() === '1' ? 1 : 0);
      nodeFs.writeFileSync(path, `${data.trim()}\n`);
    } else if (mount.version === 1 && name === 'freezer.state') {
      if (data === 'FROZEN') this.freezingLeft.set(path, mount.features.freezingReads);
      nodeFs.writeFileSync(path, `${data}\n`);
    } else if (mount.version === 1 && name === 'memory.limit_in_bytes') {
      this.checkMemsw(Number(data), this.number(join(dir, 'memory.memsw.limit_in_bytes')), path);
      nodeFs.writeFileSync(path, `${data}\n`);
    } else if (mount.version === 1 && name === 'memory.memsw.limit_in_bytes') {
      this.checkMemsw(this.number(join(dir, 'memory.limit_in_bytes')) ?? 0, Number(data), path);
      nodeFs.writeFileSync(path, `${data}\n`);
    } else {
      nodeFs.writeFileSync(path, `${data}\n`);
    }
    this.writes.push({ path, data });
  }

  // ---- kernel rules -----------------------------------------------------------------

  /** The process is gone: it leaves every cgroup of every hierarchy. */
  exit(pid: number): void {
    for (const dir of this.allCgroupDirs()) {
      const pids = this.procs(dir);
      if (pids.includes(pid)) this.writeProcs(dir, pids.filter((p) => p !== pid));
    }
    this.refreshPopulated();
  }

  private movePid(mount: Mount, dir: string, pid: number): void {
    if (!Number.isInteger(pid) || pid <= 0) throw sysError('EINVAL', 'write', join(dir, 'cgroup.procs'));
    if (mount.version === 2 && dir !== mount.dir && this.words(join(dir, 'cgroup.subtree_control')).length > 0) {
      throw sysError('EBUSY', 'write', join(dir, 'cgroup.procs')); // no internal processes
    }
    for (const d of this.walk(mount.dir)) {
      const pids = this.procs(d);
      if (pids.includes(pid)) this.writeProcs(d, pids.filter((p) => p !== pid));
    }
    this.writeProcs(dir, [...this.procs(dir), pid]);
    this.refreshPopulated();
  }

  private subtreeControl(dir: string, data: string): void {
    const path = join(dir, 'cgroup.subtree_control');
    const available = this.words(join(dir, 'cgroup.controllers'));
    const enabled = new Set(this.words(path));
    const ops = data.trim().split(/\s+/);
    for (const op of ops) {
      const c = op.slice(1);
      if (!op.startsWith('+') && !op.startsWith('-')) throw sysError('EINVAL', 'write', path);
      if (op.startsWith('+') && !available.includes(c)) throw sysError('ENOENT', 'write', path);
    }
    const enabling = ops.some((op) => op.startsWith('+'));
    const isRoot = !nodeFs.existsSync(join(dir, 'cgroup.type'));
    if (enabling && !isRoot && this.procs(dir).length > 0) throw sysError('EBUSY', 'write', path);
    for (const op of ops) {
      if (op.startsWith('+')) enabled.add(op.slice(1));
      else enabled.delete(op.slice(1));
    }
    nodeFs.writeFileSync(path, `${[...enabled].join(' ')}\n`);
    // Children get the newly enabled controllers' interface files.
    const mount = this.mountOf(path);
    if (mount.version !== 2) return;
    for (const child of this.listDirs(dir)) {
      const childDir = join(dir, child);
      nodeFs.writeFileSync(join(childDir, 'cgroup.controllers'), `${[...enabled].join(' ')}\n`);
      for (const c of enabled) {
        for (const [file, content] of Object.entries(V2_FILES[c]?.(mount.features) ?? {})) {
          if (!nodeFs.existsSync(join(childDir, file))) nodeFs.writeFileSync(join(childDir, file), content);
        }
      }
    }
  }

  /** v1 insists on memsw >= limit_in_bytes after every single write. */
  private checkMemsw(limit: number, memsw: number | undefined, path: string): void {
    if (memsw !== undefined && memsw < limit) throw sysError('EINVAL', 'write', path);
  }

  private refreshPopulated(): void {
    for (const mount of this.mounts) {
      if (mount.version !== 2) continue;
      for (const dir of this.walk(mount.dir)) {
        if (dir === mount.dir) continue;
        const populated = this.walk(dir).some((d) => this.procs(d).length > 0);
        this.setEvent(dir, 'populated', populated ? 1 : 0);
      }
    }
  }

  // ---- helpers ----------------------------------------------------------------------

  private populateV1(dir: string, controllers: string[], f: Required<V1Features>): void {
    this.put(dir, { 'cgroup.procs': '', tasks: '', notify_on_release: '0\n' });
    for (const c of controllers) this.put(dir, V1_FILES[c]?.(f) ?? {});
  }

  private put(dir: string, files: Record<string, string>): void {
    for (const [name, content] of Object.entries(files)) nodeFs.writeFileSync(join(dir, name), content);
  }

  private setEvent(dir: string, key: string, value: number): void {
    const path = join(dir, 'cgroup.events');
    if (!nodeFs.existsSync(path)) return;
    const lines = nodeFs
      .readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (l.startsWith(`${key} `) ? `${key} ${value}` : l));
    nodeFs.writeFileSync(path, `${lines.join('\n')}\n`);
  }

  private mountOf(path: string): Mount {
    const mount = this.mounts
      .filter((m) => !relative(m.dir, path).startsWith('..'))
      .sort((a, b) => b.dir.length - a.dir.length)[0];
    if (mount === undefined) throw sysError('EACCES', 'access outside any cgroup mount', path);
    return mount;
  }

  private allCgroupDirs(): string[] {
    return this.mounts.flatMap((m) => this.walk(m.dir));
  }

  private walk(dir: string): string[] {
    if (!nodeFs.existsSync(dir)) return [];
    return [dir, ...this.listDirs(dir).flatMap((c) => this.walk(join(dir, c)))];
  }

  private procs(dir: string): number[] {
    const path = join(dir, 'cgroup.procs');
    if (!nodeFs.existsSync(path)) return [];
    return nodeFs
      .readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
  }

  private writeProcs(dir: string, pids: number[]): void {
    nodeFs.writeFileSync(join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
  }

  private words(path: string): string[] {
    if (!nodeFs.existsSync(path)) return [];
    return nodeFs.readFileSync(path, 'utf8').trim().split(/\s+/).filter((w) => w !== '');
  }

  private number(path: string): number | undefined {
    return nodeFs.existsSync(path) ? Number(nodeFs.readFileSync(path, 'utf8').trim()) : undefined;
  }
}
