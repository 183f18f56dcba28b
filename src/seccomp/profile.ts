// Seccomp profiles: what a job may not ask the kernel for. The default is a
// denylist in the spirit of Docker's default profile: calls that reach outside
// the sandbox, load code into the kernel, or widen the attack surface fail with
// EPERM (the job goes on and can handle the error); clone3 answers ENOSYS so
// libc falls back to clone(), whose namespace flags we can inspect.

export type SeccompAction =
  | { kind: 'errno'; errno: number }
  | { kind: 'kill' }
  | { kind: 'allow' };

export interface SeccompRule {
  /** Syscall names; names this architecture lacks are skipped. */
  names: readonly string[];
  action: SeccompAction;
  /** Only when argument `arg` has any of these bits set (one rule per bit). */
  whenArgHasBits?: { arg: number; bits: readonly bigint[] };
}

export interface SeccompProfile {
  name: string;
  defaultAction: SeccompAction;
  rules: readonly SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Namespace flags of clone(2): a job may not make namespaces of its own. */
export const CLONE_NAMESPACE_FLAGS: readonly bigint[] = [
  0x00020000n, // CLONE_NEWNS
  0x02000000n, // CLONE_NEWCGROUP
  0x04000000n, // CLONE_NEWUTS
  0x08000000n, // CLONE_NEWIPC
  0x10000000n, // CLONE_NEWUSER
  0x20000000n, // CLONE_NEWPID
  0x40000000n, // CLONE_NEWNET
  0x00000080n, // CLONE_NEWTIME
];

export const DEFAULT_PROFILE: SeccompProfile = {
  name: 'default',
  defaultAction: { kind: 'allow' },
  rules: [
    {
      names: [
        // mounts and the new mount API
        'mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'move_mount', 'open_tree', 'fsopen', 'fsconfig',
        'fsmount', 'fspick', 'mount_setattr',
        // namespaces
        'unshare', 'setns',
        // other processes and the kernel's memory
        'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise',
        // kernel code, keys, tracing, bpf
        'init_module', 'finit_module', 'delete_module', 'create_module', 'query_module', 'get_kernel_syms',
        'kexec_load', 'kexec_file_load', 'bpf', 'perf_event_open', 'add_key', 'request_key', 'keyctl',
        'lookup_dcookie', 'fanotify_init', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
        // the host's clock, power, swap, accounting, quotas
        'reboot', 'swapon', 'swapoff', 'acct', 'quotactl', 'quotactl_fd', 'settimeofday', 'clock_settime',
        'clock_adjtime', 'adjtimex', 'stime', 'syslog', 'vhangup', 'nfsservctl', 'sysfs', '_sysctl', 'uselib',
        'ustat', 'personality',
        // raw hardware access and old ABIs
        'iopl', 'ioperm', 'vm86', 'vm86old', 'modify_ldt',
        // file handles bypass path permission checks
        'name_to_handle_at', 'open_by_handle_at',
      ],
      action: { kind: 'errno', errno: EPERM },
    },
    { names: ['clone'], action: { kind: 'errno', errno: EPERM }, whenArgHasBits: { arg: 0, bits: CLONE_NAMESPACE_FLAGS } },
    { names: ['clone3'], action: { kind: 'errno', errno: ENOSYS } },
  ],
};
