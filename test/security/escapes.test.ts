// Escapes: a job trying to reach past its sandbox, through the runtime's binary,
// file handles, mounts, namespaces, other processes, kernel interfaces, devices,
// setuid files and foreign syscall ABIs. Every call is refused and the host is
// unchanged (harness.ts checks after each case). Which layer stops each case:
// SECURITY.md.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ImageStore } from '../../src/image/store.ts';
import { silentLogger } from '../../src/log.ts';
import { fixtureBinary, TEST_STATE_DIR } from '../helpers/sandbox.ts';
import { ROOT, runIn, useSandboxes } from './harness.ts';

const { runner } = useSandboxes();
const run = (cmd: string[], extra = {}) => runIn(runner(), cmd, extra);

describe('escapes: the runtime binary', () => {
  test('pid 1 is the launcher: its exe cannot be opened for writing (CVE-2019-5736)', async () => {
    const r = await run(['cbfix', 'open-write', '/proc/1/exe'], ROOT);
    assert.equal(r.stdout, 'open-write: Permission denied\n');
  });

  test('no process the job can see has an exe it may write', async () => {
    const r = await run(['sh', '-c', 'for p in /proc/[0-9]*; do cbfix open-write $p/exe; done'], ROOT);
    assert.equal(r.verdict, 'OK');
    assert.ok(r.stdout.length > 0);
    for (const line of r.stdout.trim().split('\n')) assert.match(line, /^open-write: (Permission denied|Text file busy|No such file or directory)$/);
  });

  test('a #!/proc/self/exe script does not re-run the launcher inside the sandbox', async () => {
    const r = await run(['/box/s.sh'], { files: [{ path: 's.sh', content: '#!/proc/self/exe\n', mode: 0o755 }] });
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.exitCode, 127);
    const viaInit = await run(['sh', '-c', "printf '#!/proc/1/exe\\n' > /tmp/t; chmod +x /tmp/t; /tmp/t; echo rc=$?"]);
    assert.match(viaInit.stdout, /^rc=12[67]$/m);
  });
});

describe('escapes: file handles, mounts, root', () => {
  test('open_by_handle_at (the "shocker" escape) is refused', async () => {
    const r = await run(['cbfix', 'open-by-handle'], ROOT);
    assert.equal(r.stdout, 'name-to-handle: Operation not permitted\nopen-by-handle: Operation not permitted\n');
  });

  for (const [verb, args] of [['umount', ['/proc']], ['pivot-root', []], ['chroot', []]] as const) {
    test(`${verb} is refused, even to root inside`, async () => {
      const r = await run(['cbfix', verb, ...args], ROOT);
      assert.equal(r.stdout, `${verb}: Operation not permitted\n`);
    });
  }

  test('the root cannot be unmounted to reveal what is under it, nor left through ..', async () => {
    const r = await run(['sh', '-c', 'cbfix umount /; stat -c %d:%i / /.. /../.. | uniq | wc -l'], ROOT);
    assert.equal(r.stdout, 'umount: Operation not permitted\n1\n');
  });

  test('the masks over /proc cannot be unmounted to reveal what is under them', async () => {
    const r = await run(['sh', '-c', 'cbfix umount /proc/kallsyms; wc -c < /proc/kallsyms'], ROOT);
    assert.equal(r.stdout, 'umount: Operation not permitted\n0\n');
  });
});

describe('escapes: namespaces', () => {
  test('a user namespace of its own, and a mount in it, is refused', async () => {
    const r = await run(['cbfix', 'userns-mount'], ROOT);
    assert.equal(r.stdout, 'userns-mount: Operation not permitted\n');
  });

  test('clone3 with CLONE_NEWUSER answers ENOSYS (libc falls back to clone, whose flags are checked)', async () => {
    const r = await run(['cbfix', 'clone3-newuser'], ROOT);
    assert.equal(r.stdout, 'clone3-newuser: Function not implemented\n');
  });

  test('new mount, net, uts, ipc namespaces are refused', async () => {
    const r = await run(['cbfix', 'unshare-ns'], ROOT);
    assert.equal(r.stdout, 'unshare-ns: Operation not permitted\n');
  });

  test("the job's user namespace may hold no nested namespaces, and it cannot raise that", async () => {
    const knobs = ['user', 'mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup'].map((k) => `/proc/sys/user/max_${k}_namespaces`);
    const r = await run(['sh', '-c', `cat ${knobs.join(' ')}; echo 100 > /proc/sys/user/max_user_namespaces || echo refused`], ROOT);
    assert.equal(r.stdout, `${knobs.map(() => '0\n').join('')}refused\n`);
  });

  test("setns into pid 1's namespaces or its own is refused", async () => {
    const r = await run(['sh', '-c', 'cbfix setns /proc/1/ns/mnt; cbfix setns /proc/self/ns/net'], ROOT);
    assert.equal(r.stdout, 'setns: Permission denied\nsetns: Operation not permitted\n');
  });
});

describe('escapes: other processes and kernel interfaces', () => {
  test('ptrace of a sibling process with the same uid is refused', async () => {
    const r = await run(['sh', '-c', 'sleep 5 & cbfix ptrace $!; kill $!'], ROOT);
    assert.equal(r.stdout, 'ptrace: Operation not permitted\n');
  });

  for (const verb of ['keyctl', 'bpf', 'perf', 'userfaultfd', 'io-uring', 'reboot']) {
    test(`${verb} is refused, even to root inside`, async () => {
      const r = await run(['cbfix', verb], ROOT);
      assert.equal(r.stdout, `${verb}: Operation not permitted\n`);
    });
  }

  test('kernel modules cannot be loaded', async () => {
    const r = await run(['cbfix', 'module'], ROOT);
    assert.equal(r.stdout, 'init-module: Operation not permitted\nfinit-module: Operation not permitted\n');
  });

  test("pid 1's memory, environment and descriptors are out of reach", async () => {
    const r = await run(['sh', '-c', 'cbfix read /proc/1/mem; cbfix read /proc/1/environ; cbfix read /proc/1/fd/0; ls /proc/1/fd 2>&1 | head -1'], ROOT);
    assert.equal(r.stdout, 'read: Permission denied\nread: Permission denied\nread: Permission denied\nls: can\'t open \'/proc/1/fd\': Permission denied\n');
  });
});

describe('escapes: devices, setuid, foreign ABIs', () => {
  test('device nodes cannot be made: not on the writable layer, not in /dev', async () => {
    const r = await run(['sh', '-c', 'cbfix mknod /tmp/mem; cbfix mknod /dev/mem'], ROOT);
    assert.equal(r.stdout, 'mknod: Operation not permitted\nmknod: Read-only file system\n');
  });

  test('a setuid-root binary in the image gives no privilege', async () => {
    // A test-only image whose cbfix copy is setuid root (the importer strips
    // the bit, so it is set on the extracted blob, which only this test uses).
    const store = new ImageStore(path.join(TEST_STATE_DIR, 'images'), silentLogger);
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'cbsuid-'));
    try {
      fs.mkdirSync(path.join(stage, 'usr/local/bin'), { recursive: true });
      fs.copyFileSync(fixtureBinary(), path.join(stage, 'usr/local/bin/cbfix'));
      fs.copyFileSync(fixtureBinary(), path.join(stage, 'usr/local/bin/suid-cbfix'));
      fs.writeFileSync(path.join(stage, 'usr/local/bin/.image'), 'cbtest-suid\n');
      const tar = path.join(stage, 'suid.tar');
      execFileSync('tar', ['-cf', tar, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', stage, 'usr']);
      await store.importTarball(tar, 'cbtest-suid');
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
    const suid = path.join(store.resolve('cbtest-suid').rootfs, 'usr/local/bin/suid-cbfix');
    fs.chmodSync(suid, 0o4755);
    assert.equal(fs.statSync(suid).mode & 0o4000, 0o4000);
    const r = await run(['suid-cbfix', 'ids'], { image: 'cbtest-suid', user: { uid: 1000, gid: 1000 } });
    assert.equal(r.verdict, 'OK', r.message);
    assert.match(r.stdout, /^ids: uid=1000 euid=1000 suid=1000$/m);
    assert.match(r.stdout, /^ids: CapEff:\s+0+$/m);
    const up = await run(['cbfix', 'setuid', '0'], { image: 'cbtest-suid' });
    assert.equal(up.stdout, 'setuid: Operation not permitted\n');
  });

  test('a 32-bit syscall (int 0x80) cannot get past the filter: the process is killed', async () => {
    const r = await run(['cbfix', 'int80'], ROOT);
    assert.equal(r.verdict, 'RUNTIME_ERROR');
    assert.equal(r.signal, 'SIGSYS');
  });

  test('an x32-ABI syscall cannot get past the filter: the process is killed', async () => {
    const r = await run(['cbfix', 'x32'], ROOT);
    assert.equal(r.signal, 'SIGSYS');
  });

  test('cgroupfs is out of reach and the job sees itself at its cgroup root', async () => {
    const r = await run(['sh', '-c', 'ls /sys/fs/cgroup 2>&1; cut -d: -f3 /proc/self/cgroup | sort -u; cbfix mount'], ROOT);
    assert.equal(r.stdout, 'ls: /sys/fs/cgroup: No such file or directory\n/\nmount: Operation not permitted\n');
  });
});
