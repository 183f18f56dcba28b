// The launchers cellblock is measured against, each running `true` in the same
// busybox rootfs: bare fork+exec, unshare with cellblock's seven namespaces,
// bubblewrap, runc and crun (Debian's packages). Each is spawned from this Node
// process, as cellblock's own launcher is, so all pay the same spawn cost.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Peer {
  name: string;
  /** Why it cannot run here, if it cannot. */
  unavailable?: string;
  launch(i: number): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
  });
}

/** Debian's bubblewrap, crun, runc: installed when missing (as root). */
export function ensurePeersInstalled(): void {
  const missing = ['bubblewrap', 'crun', 'runc'].filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout.includes('ok installed') === false);
  if (missing.length > 0) {
    process.stderr.write(`bench: installing ${missing.join(' ')}\n`);
    execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
}

function ociBundle(rootfs: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cellblock-bench-oci-'));
  execFileSync('runc', ['spec'], { cwd: dir });
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
  };
  config.process.terminal = false;
  config.process.args = ['/bin/true'];
  config.root = { path: rootfs, readonly: true };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

async function probe(peer: Peer): Promise<Peer> {
  try {
    await peer.launch(-1);
    return peer;
  } catch (err) {
    return { name: peer.name, unavailable: (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 160), launch: async () => {} };
  }
}

/** The peers, and a cleanup to call when done with them. */
export async function peers(rootfs: string): Promise<{ list: Peer[]; close(): void }> {
  const bundle = ociBundle(rootfs);
  const oci = (bin: string): Peer => ({
    name: bin,
    launch: (i) => run(bin, ['run', '--bundle', bundle, `cb-bench-${process.pid}-${bin}-${i}`]),
  });
  const list: Peer[] = [
    { name: 'bare fork+exec', launch: () => run('/bin/true', []) },
    { name: 'unshare (7 namespaces)', launch: () => run('unshare', ['--user', '--map-root-user', '--pid', '--fork', '--mount', '--uts', '--ipc', '--net', '--cgroup', '/bin/true']) },
    { name: 'bubblewrap', launch: () => run('bwrap', ['--unshare-all', '--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev', '/bin/true']) },
    oci('crun'),
    oci('runc'),
  ];
  return { list: await Promise.all(list.map(probe)), close: () => fs.rmSync(bundle, { recursive: true, force: true }) };
}
