#!/usr/bin/env node
// Runs the cgroup-touching integration tests on a real cgroup v2 kernel: boots Debian's
// kernel under QEMU with a minimal init (test/v2/guest-init.sh, no systemd) and a pure
// cgroup2 hierarchy, shares the host's /usr, /etc and this repository over virtio-9p
// (so the guest runs the host's node, launcher binary and node_modules as they are),
// runs the tests in each "pass" (where the test runner sits: the root cgroup, a delegated
// service cgroup, a container-like cgroup namespace with few capabilities), and reports
// the guest's results here. Exits non-zero when the guest fails to boot or a test fails.
//
//   node test/v2/run-in-qemu.mjs [--passes root,delegated,container] [--no-kvm] [FILES...]
//
// Needs (test/v2/install-deps.sh): qemu-system-x86, linux-image-amd64, busybox-static,
// cpio, e2fsprogs; and the repository built (npm ci) with its test images (npm test).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_FILES = [
  'test/integration/cgroup',
  'test/integration/sandbox/run.test.ts',
  'test/integration/sandbox/launcher-cgroups.test.ts',
  'test/security/isolation.test.ts',
];
const DEFAULT_PASSES = ['root', 'delegated', 'container'];
/** What the worker needs in a container (see README "Host flavours"): checked by the container pass. */
const CONTAINER_CAPS = ['sys_admin', 'setuid', 'setgid', 'chown', 'fowner', 'dac_override', 'kill'];
/** Modules the init loads from the initramfs, dependencies resolved by modprobe. */
const MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio_blk', 'ext4', 'overlay'];
/** On the scratch ext4 disk: images need a filesystem that supports idmapped mounts. */
const GUEST_STATE_DIR = '/mnt/scratch/state';
/** Where the guest mounts the repository (a name without "cellblock": see the leak check). */
const GUEST_REPO = '/src/repo';

function die(msg) {
  console.error(`run-in-qemu: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { passes: DEFAULT_PASSES, kvm: undefined, files: [], timeoutMin: undefined, memMiB: 4096, cpus: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--passes') opts.passes = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--no-kvm') opts.kvm = false;
    else if (a === '--kvm') opts.kvm = true;
    else if (a === '--timeout-min') opts.timeoutMin = Number(argv[++i]);
    else if (a === '--cpus') opts.cpus = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 13).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else if (a.startsWith('--')) die(`unknown option ${a}`);
    else opts.files.push(a);
  }
  if (opts.files.length === 0) opts.files = DEFAULT_FILES;
  return opts;
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The newest /boot/vmlinuz-* whose modules are installed (CELLBLOCK_V2_KERNEL overrides). */
function findKernel() {
  const wanted = process.env.CELLBLOCK_V2_KERNEL;
  const versions = fs.readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => fs.existsSync(`/lib/modules/${v}/modules.dep`))
    .filter((v) => wanted === undefined || v === wanted || `/boot/vmlinuz-${v}` === wanted)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const version = versions.at(-1);
  if (version === undefined) die('no kernel in /boot with its modules in /lib/modules: run test/v2/install-deps.sh (linux-image-amd64)');
  return { version, image: `/boot/vmlinuz-${version}` };
}

/** Module files in load order, dependencies first, each once. */
function moduleFiles(version) {
  const files = [];
  for (const mod of MODULES) {
    const r = spawnSync('modprobe', ['-S', version, '--show-depends', mod], { encoding: 'utf8' });
    if (r.status !== 0) die(`modprobe --show-depends ${mod} for ${version}: ${r.stderr.trim()}`);
    for (const line of r.stdout.split('\n')) {
      const m = /^insmod (\S+)/.exec(line.trim());
      if (m && !files.includes(m[1])) files.push(m[1]);
    }
    // "builtin X" lines need nothing.
  }
  return files;
}

function buildInitramfs(work, version) {
  const root = path.join(work, 'initramfs');
  fs.mkdirSync(path.join(root, 'cb'), { recursive: true });
  fs.mkdirSync(path.join(root, 'modules'), { recursive: true });
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (busybox === undefined) die('busybox not found: apt-get install busybox-static');
  const ldd = spawnSync('ldd', [busybox], { encoding: 'utf8' });
  if (!/not a dynamic executable|statically linked/.test(`${ldd.stdout}${ldd.stderr}`)) die(`${busybox} is not static: apt-get install busybox-static`);
  fs.copyFileSync(busybox, path.join(root, 'cb/busybox'));
  fs.chmodSync(path.join(root, 'cb/busybox'), 0o755);
  fs.copyFileSync(path.join(REPO, 'test/v2/guest-init.sh'), path.join(root, 'init'));
  fs.chmodSync(path.join(root, 'init'), 0o755);
  const order = [];
  for (const file of moduleFiles(version)) {
    let name = path.basename(file);
    const dest = path.join(root, 'modules', name.replace(/\.(xz|zst|gz)$/, ''));
    if (file.endsWith('.xz')) fs.writeFileSync(dest, execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 }));
    else if (file.endsWith('.zst')) fs.writeFileSync(dest, execFileSync('zstd', ['-dc', file], { maxBuffer: 1 << 28 }));
    else if (file.endsWith('.gz')) fs.writeFileSync(dest, execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 28 }));
    else fs.copyFileSync(file, dest);
    name = path.basename(dest);
    order.push(name);
  }
  fs.writeFileSync(path.join(root, 'modules/order'), `${order.join('\n')}\n`);
  const out = path.join(work, 'initramfs.cpio');
  execFileSync('sh', ['-c', `find . | cpio -o -H newc --quiet > '${out}'`], { cwd: root });
  return out;
}

function makeStateDisk(work) {
  const disk = path.join(work, 'state.ext4');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 4 * 1024 ** 3); // sparse
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'cbstate', '-E', 'lazy_itable_init=1,lazy_journal_init=1', disk]);
  return disk;
}

/**
 * KVM only where this kernel sees hardware virtualization (vmx/svm) and /dev/kvm opens.
 * A nested /dev/kvm without it (this project's machines: it opens and creates VMs) runs
 * guests far slower than TCG: the kernel took 26 s to reach its memory setup, which TCG
 * passes in under a second. --kvm forces it.
 */
function kvmUsable() {
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'))) return false;
  return kvmOpens();
}

function kvmOpens() {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** Lines of node's test runner summary ("ℹ pass 12") in one pass's output. */
function summaryOf(lines) {
  const s = {};
  for (const line of lines) {
    const m = /^\S*\s*ℹ (tests|pass|fail|skipped|todo|cancelled|duration_ms) ([0-9.]+)/.exec(line);
    if (m) s[m[1]] = Number(m[2]);
  }
  return s;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux') die('Linux only');
  if (process.getuid?.() !== 0) die('run as root (the guest tests run sandboxes as root, like the host tests)');
  for (const cmd of ['qemu-system-x86_64', 'cpio', 'mkfs.ext4', 'modprobe']) {
    if (which(cmd) === undefined) die(`${cmd} not found: run test/v2/install-deps.sh`);
  }
  for (const f of ['native/build/cellblock-launcher', 'node_modules/tsx', 'native/build/test/cbtest.tar', 'images/build/busybox.tar']) {
    if (!fs.existsSync(path.join(REPO, f))) die(`${f} is missing: run scripts/install.sh and the host tests (npm test) first`);
  }
  // The guest runs the host's node from the shared /usr.
  if (!process.execPath.startsWith('/usr/')) die(`node must live under /usr (it is ${process.execPath}): the guest shares the host's /usr`);

  const kvm = opts.kvm ?? kvmUsable();
  if (opts.kvm === true && !kvmOpens()) die('--kvm: /dev/kvm does not open');
  const timeoutMin = opts.timeoutMin ?? (kvm ? 20 : 60);
  const kernel = findKernel();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-v2-'));
  const results = path.join(work, 'results');
  fs.mkdirSync(results);
  const t0 = performance.now();
  let qemu;
  const cleanup = () => {
    if (qemu && qemu.exitCode === null) qemu.kill('SIGKILL');
    fs.rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  process.on('SIGTERM', () => { cleanup(); process.exit(143); });

  try {
    const initrd = buildInitramfs(work, kernel.version);
    const disk = makeStateDisk(work);
    // Under TCG the sandbox's own setup (charged to the job) runs many times slower: scale
    // the tests' upper bounds on time (test/helpers/sandbox.ts TIME_SCALE).
    const guestEnv = [`CELLBLOCK_TEST_STATE_DIR=${GUEST_STATE_DIR}`, 'CELLBLOCK_LOG_LEVEL=silent', `CI=${process.env.CI ?? ''}`, `CELLBLOCK_TEST_TIME_SCALE=${kvm ? 1 : 10}`];
    fs.writeFileSync(path.join(results, 'plan.sh'), [
      `REPO='${GUEST_REPO}'`,
      `STATE_DIR='${GUEST_STATE_DIR}'`,
      `PASSES='${opts.passes.join(' ')}'`,
      `TEST_FILES='${opts.files.join(' ')}'`,
      `GUEST_ENV='${guestEnv.join(' ')}'`,
      `export CONTAINER_CAPS='${CONTAINER_CAPS.map((c) => `+${c}`).join(',')}'`,
      '',
    ].join('\n'));
    const virtfs = (p, tag, ro) => ['-virtfs', `local,path=${p},mount_tag=${tag},security_model=none,multidevs=remap${ro ? ',readonly=on' : ''}`];
    const args = [
      '-machine', `pc,accel=${kvm ? 'kvm' : 'tcg'}`,
      // arch-capabilities off: nested KVM (as on this project's machines) refuses its MSR.
      // Under TCG a CPU without AVX: with `max` (likely QEMU 7.2's new AVX emulation), node died of
      // SIGSEGV in about one pass in four, at any point (a test file with no output, the
      // doctor at start); with Nehalem 0 of 9 passes.
      '-cpu', kvm ? 'host,-arch-capabilities' : 'Nehalem',
      '-smp', String(opts.cpus),
      '-m', String(opts.memMiB),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-nic', 'none',
      '-chardev', 'stdio,id=con,signal=off', '-serial', 'chardev:con',
      '-kernel', kernel.image,
      '-initrd', initrd,
      // cgroup_no_v1=all: nothing can bind a controller to v1, the hierarchy is pure v2.
      '-append', 'console=ttyS0 quiet loglevel=4 panic=-1 cgroup_no_v1=all rdinit=/init',
      '-drive', `file=${disk},if=virtio,format=raw,cache=unsafe`,
      ...virtfs('/usr', 'usr', true),
      ...virtfs('/etc', 'etc', true),
      ...virtfs(REPO, 'repo', true),
      ...virtfs(results, 'results', false),
    ];
    console.log(`run-in-qemu: kernel ${kernel.version}, ${kvm ? 'KVM' : 'TCG (software emulation, slow)'}, ${opts.cpus} vCPU, ${opts.memMiB} MiB; passes: ${opts.passes.join(', ')}`);
    console.log(`run-in-qemu: tests: ${opts.files.join(' ')}`);

    const output = [];
    let timedOut = false;
    const exit = await new Promise((resolve) => {
      qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, timeoutMin * 60_000);
      let partial = '';
      qemu.stdout.setEncoding('utf8');
      qemu.stdout.on('data', (chunk) => {
        const text = partial + chunk.replace(/\r/g, '');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          output.push(line);
          process.stdout.write(`[guest] ${line}\n`);
        }
      });
      qemu.stderr.setEncoding('utf8');
      qemu.stderr.on('data', (chunk) => process.stderr.write(`[qemu] ${chunk}`));
      qemu.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (partial !== '') { output.push(partial); process.stdout.write(`[guest] ${partial}\n`); }
        resolve({ code, signal });
      });
    });
    const totalS = ((performance.now() - t0) / 1000).toFixed(1);
    const readResult = (f) => (fs.existsSync(path.join(results, f)) ? fs.readFileSync(path.join(results, f), 'utf8').trim() : undefined);

    const problems = [];
    if (timedOut) problems.push(`the guest did not finish within ${timeoutMin} min (killed)`);
    else if (exit.code !== 0) problems.push(`qemu exited with ${exit.code ?? exit.signal}`);
    const fatal = readResult('fatal');
    if (fatal !== undefined) problems.push(fatal);
    const ready = readResult('ready');
    if (ready === undefined) problems.push('the guest never became ready (boot failed: see the [guest] lines above)');
    if (readResult('done') === undefined && fatal === undefined && !timedOut) problems.push('the guest stopped before finishing its passes');

    // Split the console by pass to report each pass's test summary.
    const passLines = new Map();
    let current;
    for (const line of output) {
      const m = /cellblock-guest: === pass (\S+) ===/.exec(line);
      if (m) { current = m[1]; passLines.set(current, []); continue; }
      if (current !== undefined) passLines.get(current).push(line);
    }
    const ran = new Map((readResult('passes') ?? '').split('\n').filter(Boolean).map((l) => {
      const [pass, rc, start, end] = l.split(' ');
      return [pass, { rc: Number(rc), secs: Number(end) - Number(start) }];
    }));
    const total = { pass: 0, fail: 0, skipped: 0 };
    console.log('\nrun-in-qemu: cgroup v2 guest results');
    for (const pass of opts.passes) {
      const r = ran.get(pass);
      const s = summaryOf(passLines.get(pass) ?? []);
      total.pass += s.pass ?? 0;
      total.fail += s.fail ?? 0;
      total.skipped += (s.skipped ?? 0) + (s.todo ?? 0);
      if (r === undefined) {
        problems.push(`pass ${pass} did not run`);
        console.log(`  ${pass.padEnd(10)} did not run`);
        continue;
      }
      if (r.rc !== 0) problems.push(`pass ${pass}: the tests failed (exit ${r.rc})`);
      console.log(`  ${pass.padEnd(10)} ${r.rc === 0 ? 'ok  ' : 'FAIL'} tests ${s.tests ?? '?'}, pass ${s.pass ?? '?'}, fail ${s.fail ?? '?'}, skipped ${s.skipped ?? '?'} in ${r.secs.toFixed(1)} s`);
    }
    console.log(`run-in-qemu: guest ready after ${ready?.split(' ')[1] ?? '?'} s of guest uptime; ${totalS} s in all (${kvm ? 'KVM' : 'TCG'})`);
    for (const p of problems) console.log(`run-in-qemu: FAILED: ${p}`);
    console.log(`v2-guest: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    cleanup();
  }
}

process.exitCode = await main();
