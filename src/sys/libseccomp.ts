// libseccomp through koffi: resolves syscall names for this architecture and
// compiles rules into a classic BPF program. Loaded lazily, once.
import fs from 'node:fs';
import koffi, { type LibraryHandle } from 'koffi';
import { CellblockError } from '../errors.ts';
import { memfd } from './libc.ts';

export const SCMP_ACT_ALLOW = 0x7fff0000;
export const SCMP_ACT_LOG = 0x7ffc0000;
export const SCMP_ACT_KILL_PROCESS = 0x80000000;
export const SCMP_ACT_KILL_THREAD = 0x00000000;
export const SCMP_ACT_TRAP = 0x00030000;
export const scmpActErrno = (errno: number): number => 0x00050000 | (errno & 0xffff);

/** Comparison ops of struct scmp_arg_cmp (seccomp.h). */
export const SCMP_CMP_NE = 1;
export const SCMP_CMP_LT = 2;
export const SCMP_CMP_LE = 3;
export const SCMP_CMP_EQ = 4;
export const SCMP_CMP_GE = 5;
export const SCMP_CMP_GT = 6;
export const SCMP_CMP_MASKED_EQ = 7;

export interface ArgCmp {
  arg: number;
  op: number;
  datumA: bigint;
  datumB: bigint;
}

interface Lib {
  init(defaultAction: number): unknown;
  release(ctx: unknown): void;
  resolveName(name: string): number;
  ruleAddArray(ctx: unknown, action: number, syscall: number, count: number, args: unknown[]): number;
  exportBpf(ctx: unknown, fd: number): number;
}

let lib: Lib | undefined;

function load(): Lib {
  if (lib) return lib;
  let so: LibraryHandle;
  try {
    so = koffi.load('libseccomp.so.2');
  } catch (err) {
    throw new CellblockError('SECCOMP_FAILED', 'libseccomp.so.2 is missing: install it (Debian/Ubuntu: apt-get install libseccomp2)', { cause: err });
  }
  // Registered by name for the prototype below.
  koffi.struct('scmp_arg_cmp', { arg: 'uint', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  const init = so.func('void *seccomp_init(uint32_t def_action)');
  const release = so.func('void seccomp_release(void *ctx)');
  const resolveName = so.func('int seccomp_syscall_resolve_name(const char *name)');
  const ruleAddArray = so.func('int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const scmp_arg_cmp *arg_array)');
  const exportBpf = so.func('int seccomp_export_bpf(void *ctx, int fd)');
  lib = {
    init: (a) => init(a) as unknown,
    release: (c) => release(c),
    resolveName: (n) => resolveName(n) as number,
    ruleAddArray: (c, a, s, n, args) => ruleAddArray(c, a, s, n, args.length > 0 ? args : null) as number,
    exportBpf: (c, fd) => exportBpf(c, fd) as number,
  };
  return lib;
}

/** Syscall number on this architecture, or undefined when it has none. */
export function resolveSyscall(name: string): number | undefined {
  const nr = load().resolveName(name);
  return nr < 0 ? undefined : nr;
}

export interface BpfRule {
  syscall: number;
  action: number;
  args: ArgCmp[];
}

/** Compile rules into a raw BPF program (struct sock_filter[]) for the launcher. */
export function compileBpf(defaultAction: number, rules: readonly BpfRule[]): Buffer {
  const l = load();
  const ctx = l.init(defaultAction);
  if (ctx === null) throw new CellblockError('SECCOMP_FAILED', 'seccomp_init failed');
  try {
    for (const r of rules) {
      const args = r.args.map((a) => ({ arg: a.arg, op: a.op, datum_a: a.datumA, datum_b: a.datumB }));
      const rc = l.ruleAddArray(ctx, r.action, r.syscall, args.length, args);
      if (rc < 0) throw new CellblockError('SECCOMP_FAILED', `seccomp_rule_add for syscall ${r.syscall} failed: ${rc}`);
    }
    const fd = memfd('cellblock-seccomp');
    try {
      const rc = l.exportBpf(ctx, fd);
      if (rc < 0) throw new CellblockError('SECCOMP_FAILED', `seccomp_export_bpf failed: ${rc}`);
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(size);
      fs.readSync(fd, buf, 0, size, 0);
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    l.release(ctx);
  }
}
