// The extraction guard on its own: which tar entries it admits, skips or refuses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryGuard, type EntryHeader } from '../../../src/image/entry-guard.ts';

const file = (path: string, extra: Partial<EntryHeader> = {}): EntryHeader => ({ type: 'File', path, size: 1, mode: 0o644, ...extra });
const dir = (path: string, mode = 0o755): EntryHeader => ({ type: 'Directory', path, size: 0, mode });
const symlink = (path: string, linkpath: string): EntryHeader => ({ type: 'SymbolicLink', path, linkpath, size: 0 });
const hardlink = (path: string, linkpath: string): EntryHeader => ({ type: 'Link', path, linkpath, size: 0 });

function refuses(entries: EntryHeader[], why: RegExp): void {
  const guard = new EntryGuard(0o022);
  const admitted = entries.map((e) => guard.admit(e));
  assert.equal(admitted.at(-1), false, 'the offending entry is not admitted');
  assert.match(guard.violation ?? '', why);
  assert.equal(guard.admit(file('later')), false, 'nothing is admitted after a violation');
}

describe('EntryGuard', () => {
  it('admits an ordinary rootfs, absolute symlink targets included', () => {
    const guard = new EntryGuard(0o022);
    for (const e of [dir('./'), dir('./usr/'), file('./usr/bin/gcc'), symlink('./lib', 'usr/lib'), symlink('./etc/alternatives/cc', '/usr/bin/gcc'), hardlink('./usr/bin/cc', './usr/bin/gcc'), symlink('./usr/lib/up', '../../../../x')]) {
      assert.equal(guard.admit(e), true, e.path);
    }
    assert.equal(guard.violation, undefined);
    assert.equal(guard.fileBytes, 1);
  });

  it('skips device nodes and fifos without refusing the archive', () => {
    const guard = new EntryGuard(0o022);
    assert.equal(guard.admit({ type: 'CharacterDevice', path: 'dev/null', size: 0 }), false);
    assert.equal(guard.admit({ type: 'FIFO', path: 'run/fifo', size: 0 }), false);
    assert.equal(guard.violation, undefined);
    assert.equal(guard.skipped, 2);
    assert.equal(guard.admit(file('etc/passwd')), true);
  });

  it('refuses ".." in a path', () => refuses([file('../evil')], /contains "\.\."/));
  it('refuses ".." in the middle of a path', () => refuses([file('usr/../../evil')], /contains "\.\."/));
  it('refuses an absolute path', () => refuses([file('/evil')], /absolute path/));
  it('refuses writing through a symlink the archive made', () => refuses([symlink('a', '/'), file('a/etc/x')], /through the symlink "a"/));
  it('refuses a directory through a symlink', () => refuses([symlink('./a', '/'), dir('a/etc/')], /through the symlink "a"/));
  it('refuses a relative symlink used as a path prefix', () => refuses([symlink('a', '..'), file('a/x')], /through the symlink "a"/));
  it('refuses a hard link to an absolute path', () => refuses([hardlink('h', '/etc/shadow')], /hard link target.*absolute/));
  it('refuses a hard link with ".."', () => refuses([hardlink('h', '../x')], /hard link target.*"\.\."/));
  it('refuses a hard link through a symlink', () => refuses([symlink('a', '/'), hardlink('h', 'a/etc/shadow')], /hard link target goes through the symlink "a"/));
  it('refuses a non-directory at the archive root', () => refuses([symlink('./', '/')], /archive root/));
  it('refuses unsupported entry types', () => refuses([{ type: 'SparseFile', path: 'x', size: 0 }], /unsupported entry type/));

  it('records modes tar cannot reproduce, setuid kept only when allowed', () => {
    const guard = new EntryGuard(0o022, { allowSetuid: true });
    guard.admit(dir('tmp', 0o1777));
    guard.admit(dir('proc', 0o555));
    guard.admit(dir('usr', 0o755));
    guard.admit(file('usr/bin/su', { mode: 0o4755 }));
    guard.admit(file('etc/passwd'));
    assert.deepEqual([...guard.modesToRestore()], [['tmp', 0o1777], ['proc', 0o555], ['usr/bin/su', 0o4755]]);
  });

  it('drops setuid and setgid on files by default, keeps setgid on directories', () => {
    const guard = new EntryGuard(0o022);
    assert.equal(guard.effectiveMode(file('usr/bin/su', { mode: 0o4755 })), 0o755);
    assert.equal(guard.effectiveMode(file('usr/bin/wall', { mode: 0o2755 })), 0o755);
    assert.equal(guard.effectiveMode(dir('var/mail', 0o2775)), 0o2775);
    guard.admit(file('usr/bin/su', { mode: 0o4755 }));
    assert.deepEqual([...guard.modesToRestore()], []);
  });

  it('lets a later entry replace a symlink, after which paths below it are fine', () => {
    const guard = new EntryGuard(0o022);
    assert.equal(guard.admit(symlink('a', '/')), true);
    assert.equal(guard.admit(dir('a')), true);
    assert.equal(guard.admit(file('a/x')), true);
    assert.equal(guard.violation, undefined);
  });

  it('forgets a removed tree (a whiteout), symlinks included', () => {
    const guard = new EntryGuard(0o022);
    guard.admit(symlink('d/l', '/'));
    assert.match(guard.checkPath('d/l/x') ?? '', /through the symlink "d\/l"/);
    guard.forget('d');
    assert.equal(guard.checkPath('d/l/x'), undefined);
  });
});
