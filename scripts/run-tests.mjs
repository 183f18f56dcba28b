// Runs the whole suite with node's test runner through tsx: test/unit, then
// test/integration and test/security. Files run one at a time: sandbox tests
// assert that the host is left clean, which needs no other file's sandboxes
// alive. Extra arguments (files or directories) narrow the run. Afterwards the
// test state dir's run/ tmpfs is unmounted: the suite leaves no mount behind.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test/unit', 'test/integration', 'test/security'];

function collect(p) {
  const abs = path.resolve(root, p);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [abs];
  return fs.readdirSync(abs, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? collect(path.join(abs, e.name)) : e.name.endsWith('.test.ts') ? [path.join(abs, e.name)] : []));
}

const files = targets.flatMap(collect);
if (files.length === 0) {
  console.error(`no test files under ${targets.join(', ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd: root });
// The suite's sandboxes share a tmpfs at <test state dir>/run (a worker keeps its own
// mounted); once they are all gone the suite takes it down, and fails if state is left.
const released = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/release-test-run-dir.ts'], { stdio: 'inherit', cwd: root });
// A child that ends by a signal prints nothing of it itself: say so.
for (const [what, c] of [['the test runner', r], ['releasing the test state dir', released]]) {
  if (c.status === 0) continue;
  const how = c.error ? c.error.message : c.signal ? `killed by ${c.signal}` : `exit ${c.status}`;
  console.error(`run-tests: ${what} failed (${how})`);
}
process.exit(r.status !== 0 ? (r.status ?? 1) : (released.status ?? 1));
