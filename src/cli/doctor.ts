// `cellblock doctor`: is this host (or container) able to run sandboxes, and if not, what to
// fix. One line per check (ok / warn / FAIL); exit 1 when any check fails. The cgroup check
// really sets up the worker's cgroups (as a worker start would) and makes and removes one
// job cgroup with limits, so "ok" there means delegation works, not only that files exist.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupFlavour, detectCgroupDriver } from '../cgroup/index.ts';
import { configHelp } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { DEFAULT_LAUNCHER } from '../sandbox/runner.ts';
import { configFrom, EXIT_FAILURE, EXIT_OK, parseCommandArgs, type Command } from './common.ts';

const help = `Usage: cellblock doctor

Checks what cellblock needs on this host: kernel version, capabilities, user namespaces,
the cgroup flavour (v1, hybrid or v2) and whether the worker's cgroup is delegated to it,
overlayfs, idmapped mounts on the state directory's filesystem, seccomp, disk space, and
the native launcher. Prints each with ok, warn or FAIL and what to do; exits 1 on a FAIL.
It creates (and removes) a probe job cgroup below the cgroup parent; on cgroup v2 it
moves the processes of its own cgroup into the worker leaf, as a worker start does.

${configHelp()}`;

type Level = 'ok' | 'warn' | 'FAIL';
interface Check { level: Level; name: string; detail: string; fix?: string }

/** Capabilities the worker uses on the host (README "Host flavours"). */
const NEEDED_CAPS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SYS_ADMIN: 21,
};
/** Filesystems whose mounts can be idmapped on the kernels we support (tmpfs from 6.3). */
const IDMAP_FS = ['ext4', 'xfs', 'btrfs', 'f2fs'];

const readOr = (file: string, fallback = ''): string => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
};

function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
const atLeast = (v: [number, number], major: number, minor: number): boolean => v[0] > major || (v[0] === major && v[1] >= minor);

function checkKernel(): Check {
  const v = kernelVersion();
  return atLeast(v, 5, 19)
    ? { level: 'ok', name: 'kernel', detail: `${os.release()} (5.19+: idmapped mounts under overlayfs)` }
    : { level: 'FAIL', name: 'kernel', detail: `${os.release()} is older than 5.19`, fix: 'use Linux 5.19 or newer (Debian 12, Ubuntu 22.04 HWE, RHEL 9.3+)' };
}

function checkCapabilities(): Check {
  const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readOr('/proc/self/status'))?.[1] ?? '0'}`);
  const missing = Object.entries(NEEDED_CAPS).filter(([, bit]) => (eff & (1n << BigInt(bit))) === 0n).map(([name]) => name);
  const uid = process.getuid?.() ?? -1;
  if (missing.length === 0) return { level: 'ok', name: 'privileges', detail: `uid ${uid} with ${Object.keys(NEEDED_CAPS).join(' ')}` };
  return {
    level: 'FAIL',
    name: 'privileges',
    detail: `uid ${uid}, missing ${missing.join(' ')}`,
    fix: 'run the worker as root with these capabilities (a container: --cap-add them; it needs no --privileged)',
  };
}

function checkUserNamespaces(): Check {
  const max = Number(readOr('/proc/sys/user/max_user_namespaces', '-1').trim());
  if (max === 0) {
    return { level: 'FAIL', name: 'user namespaces', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d)' };
  }
  // Debian's unprivileged_userns_clone and Ubuntu's AppArmor restriction only apply to
  // processes without CAP_SYS_ADMIN, which the worker has: informational.
  const notes = [];
  const clone = readOr('/proc/sys/kernel/unprivileged_userns_clone').trim();
  if (clone !== '') notes.push(`unprivileged_userns_clone=${clone}`);
  const apparmor = readOr('/proc/sys/kernel/apparmor_restrict_unprivileged_userns').trim();
  if (apparmor !== '') notes.push(`apparmor_restrict_unprivileged_userns=${apparmor}`);
  return { level: 'ok', name: 'user namespaces', detail: `max_user_namespaces=${max < 0 ? '?' : max}${notes.length > 0 ? ` (${notes.join(', ')}: not applied to a worker with CAP_SYS_ADMIN)` : ''}` };
}

async function checkCgroups(parentName: string): Promise<Check[]> {
  const flavour = cgroupFlavour({ procSelfCgroup: readOr('/proc/self/cgroup'), mountInfo: readOr('/proc/self/mountinfo') });
  const where = flavour.kind === 'v2' ? `${flavour.ownPath}${flavour.isRoot ? ' (the root cgroup)' : ''}` : flavour.ownPath;
  const checks: Check[] = [{
    level: flavour.kind === 'none' ? 'FAIL' : 'ok',
    name: 'cgroup flavour',
    detail: `${flavour.kind === 'v2' ? 'cgroup v2 (unified)' : flavour.kind === 'hybrid' ? 'cgroup v1 controllers + a controller-less cgroup2 (systemd hybrid)' : flavour.kind === 'v1' ? 'cgroup v1' : 'no usable cgroup controllers'}; own cgroup ${where}; controllers: ${flavour.controllers.join(' ') || 'none'}`,
    ...(flavour.kind === 'none' && { fix: 'mount cgroup2 at /sys/fs/cgroup (or the v1 controllers under /sys/fs/cgroup/NAME)' }),
  }];
  try {
    const driver = detectCgroupDriver({ parentName });
    const probe = `doctor-${process.pid}`;
    const job = driver.create(probe, { memoryBytes: 16 * 1024 * 1024, cpus: 0.5, pids: 8 });
    const stats = job.stats();
    await job.remove();
    const peakNote = `peak memory from ${stats.memoryPeakSource}${stats.pidsPeak === null ? ', no pids.peak (kernel < 6.1)' : ''}`;
    checks.push({ level: 'ok', name: 'cgroup delegation', detail: `v${driver.version} driver; jobs go in ${driver.parents.join(', ')}; a probe job cgroup took limits (${peakNote})` });
  } catch (err) {
    checks.push({ level: 'FAIL', name: 'cgroup delegation', detail: errorMessage(err), fix: 'see README "Host flavours"' });
  }
  return checks;
}

/** The filesystem (type, mount point) holding `dir`, from mountinfo: the longest mount point prefix. */
function filesystemOf(dir: string): { type: string; mountPoint: string } | undefined {
  let best: { type: string; mountPoint: string } | undefined;
  for (const line of readOr('/proc/self/mountinfo').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = (line.slice(0, sep).split(' ')[4] ?? '').replace(/\\040/g, ' ');
    const type = line.slice(sep + 3).split(' ')[0] ?? '';
    const inside = mountPoint === '/' || dir === mountPoint || dir.startsWith(`${mountPoint}/`);
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { type, mountPoint };
  }
  return best;
}

function existingAncestor(dir: string): string {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && d !== '/') d = path.dirname(d);
  return d;
}

function checkFilesystems(stateDir: string): Check[] {
  const checks: Check[] = [];
  const filesystems = readOr('/proc/filesystems');
  const modules = `/lib/modules/${os.release()}/kernel/fs/overlayfs`;
  checks.push(/\boverlay$/m.test(filesystems)
    ? { level: 'ok', name: 'overlayfs', detail: 'in /proc/filesystems' }
    : fs.existsSync(modules)
      ? { level: 'ok', name: 'overlayfs', detail: 'a module, loaded on first use' }
      : { level: 'FAIL', name: 'overlayfs', detail: 'not in /proc/filesystems and no module', fix: 'modprobe overlay, or use a kernel with CONFIG_OVERLAY_FS' });

  const at = existingAncestor(stateDir);
  const fsOf = filesystemOf(at);
  const type = fsOf?.type ?? '?';
  const idmapOk = IDMAP_FS.includes(type) || (type === 'tmpfs' && atLeast(kernelVersion(), 6, 3));
  checks.push(idmapOk
    ? { level: 'ok', name: 'idmapped mounts', detail: `state dir ${stateDir} is on ${type} (${fsOf?.mountPoint}), which supports them` }
    : { level: 'FAIL', name: 'idmapped mounts', detail: `state dir ${stateDir} is on ${type} (${fsOf?.mountPoint ?? '?'}), which cannot be idmapped on this kernel`, fix: 'put CELLBLOCK_STATE_DIR on ext4, xfs or btrfs (a volume, not the container\'s overlay)' });

  try {
    const st = fs.statfsSync(at);
    const free = st.bavail * st.bsize;
    const gib = (free / 1024 ** 3).toFixed(1);
    checks.push(free < 100 * 1024 ** 2
      ? { level: 'FAIL', name: 'disk space', detail: `${gib} GiB free at ${at}`, fix: 'free space for images and job files' }
      : free < 2 * 1024 ** 3
        ? { level: 'warn', name: 'disk space', detail: `${gib} GiB free at ${at}: images need room`, fix: 'keep a few GiB free, or set CELLBLOCK_IMAGE_BUDGET' }
        : { level: 'ok', name: 'disk space', detail: `${gib} GiB free at ${at}` });
  } catch (err) {
    checks.push({ level: 'warn', name: 'disk space', detail: `statfs ${at}: ${errorMessage(err)}` });
  }
  return checks;
}

function checkSeccomp(): Check {
  const status = readOr('/proc/self/status');
  const actions = readOr('/proc/sys/kernel/seccomp/actions_avail').trim();
  if (!/^Seccomp:/m.test(status)) return { level: 'FAIL', name: 'seccomp', detail: 'the kernel has no seccomp', fix: 'use a kernel with CONFIG_SECCOMP_FILTER' };
  const missing = ['errno', 'kill_process'].filter((a) => actions !== '' && !actions.split(/\s+/).includes(a));
  return missing.length === 0
    ? { level: 'ok', name: 'seccomp', detail: `filters available${actions !== '' ? ` (${actions})` : ''}` }
    : { level: 'FAIL', name: 'seccomp', detail: `actions ${missing.join(', ')} unavailable`, fix: 'use a newer kernel' };
}

function checkLauncher(): Check {
  return fs.existsSync(DEFAULT_LAUNCHER)
    ? { level: 'ok', name: 'launcher', detail: DEFAULT_LAUNCHER }
    : { level: 'FAIL', name: 'launcher', detail: `${DEFAULT_LAUNCHER} is missing`, fix: 'npm run build:native (needs gcc and libc6-dev)' };
}

export const command: Command = {
  summary: 'check that this host can run sandboxes, and say what to fix',
  help,
  async main(argv) {
    const { values } = parseCommandArgs(argv, {}, false);
    if (values.help === true) {
      process.stdout.write(`${help}\n`);
      return EXIT_OK;
    }
    const config = configFrom(values);
    const checks = [checkKernel(), checkCapabilities(), checkUserNamespaces(), ...(await checkCgroups(config.cgroupParent)), ...checkFilesystems(config.stateDir), checkSeccomp(), checkLauncher()];
    const w = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) {
      process.stdout.write(`${c.level.padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}\n`);
      if (c.fix !== undefined && c.level !== 'ok') process.stdout.write(`${' '.repeat(w + 8)}fix: ${c.fix}\n`);
    }
    const failed = checks.filter((c) => c.level === 'FAIL').length;
    process.stdout.write(failed === 0 ? 'cellblock doctor: this host can run sandboxes\n' : `cellblock doctor: ${failed} problem(s) to fix\n`);
    return failed === 0 ? EXIT_OK : EXIT_FAILURE;
  },
};
