// Builds native/ (the C launcher) with the machine's compiler. Run by
// `npm install` / `npm ci` and `npm run build:native`. No prebuilt downloads.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'native/src');
const outDir = path.join(root, 'native/build');
// --trace: a profiling build that reports when each step ended (bench/profile.ts).
const trace = process.argv.includes('--trace');
const out = path.join(outDir, trace ? 'cellblock-launcher-trace' : 'cellblock-launcher');
const cc = process.env.CC || 'cc';

function fail(message) {
  console.error(`cellblock: native build failed: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`cellblock runs on Linux only (this is ${process.platform})`);
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
  fail(`no C compiler (${cc}) found: install one (Debian/Ubuntu: apt-get install gcc libc6-dev)`);
}
// The launcher loads the BPF that Node compiles with libseccomp at run time.
const ldconfig = spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' });
if (ldconfig.status === 0 && !ldconfig.stdout.includes('libseccomp.so.2')) {
  fail('libseccomp.so.2 not found: install it (Debian/Ubuntu: apt-get install libseccomp2)');
}

const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.c')).sort().map((f) => path.join(srcDir, f));
fs.mkdirSync(outDir, { recursive: true });
// -z now: every symbol is bound when the server starts (full RELRO), so the supervisors and
// sandbox processes it forks inherit a resolved, read-only GOT instead of each resolving
// the calls only they make (mount, unshare, seccomp...) on first use.
const flags = [...(trace ? ['-DCELLBLOCK_TRACE'] : []), '-std=gnu11', '-O2', '-g', '-Wall', '-Wextra', '-Werror', '-Wshadow', '-Wformat=2', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-fPIE', '-pie', '-Wl,-z,relro,-z,now'];
try {
  execFileSync(cc, [...flags, '-o', `${out}.tmp`, ...sources], { stdio: 'inherit' });
} catch {
  fail(`${cc} could not compile native/src (see the errors above; on Debian/Ubuntu the headers come with libc6-dev and linux-libc-dev)`);
}
fs.renameSync(`${out}.tmp`, out);
console.log(`cellblock: built ${path.relative(root, out)}`);
