// Seccomp profiles: what a job may not ask the kernel for.
//
// BASELINE_PROFILE is installed under every job, always first. It is a denylist
// in the spirit of Docker's default profile: calls that reach outside the
// sandbox, load code into the kernel, or widen the attack surface fail with EPERM
// (the job goes on and can handle the error); clone3 answers ENOSYS so libc
// falls back to clone(), whose namespace flags we can inspect; socket families
// other than unix, inet, inet6 and netlink answer EAFNOSUPPORT (vsock reaches the
// hypervisor's host, the rest are rarely used and often buggy kernel code).
//
// A job may ask for a tighter filter on top (JobSpec.seccomp): the built-in
// ALLOWLIST_PROFILE or its own profile in the OCI format (./oci.ts). Filters
// stack, so a job's profile can only take away; see ./compile.ts for how a
// profile's default action becomes ENOSYS in allowlist mode.

export type SeccompAction =
  | { kind: 'errno'; errno: number }
  | { kind: 'kill' }
  | { kind: 'kill-thread' }
  | { kind: 'trap' }
  | { kind: 'log' }
  | { kind: 'allow' };

export type ArgOp = 'ne' | 'lt' | 'le' | 'eq' | 'ge' | 'gt' | 'masked_eq';

/** One comparison of a syscall argument; for masked_eq, `value` is the mask and `valueTwo` the datum. */
export interface ArgCondition {
  index: number;
  op: ArgOp;
  value: bigint;
  valueTwo?: bigint;
}

export interface SeccompRule {
  /** Syscall names; names this architecture lacks are skipped. */
  names: readonly string[];
  action: SeccompAction;
  /** Only when argument `arg` has any of these bits set (one rule per bit). */
  whenArgHasBits?: { arg: number; bits: readonly bigint[] };
  /** Only when all of these hold (at most one per argument index). */
  args?: readonly ArgCondition[];
}

export interface SeccompProfile {
  name: string;
  defaultAction: SeccompAction;
  rules: readonly SeccompRule[];
}

export const EPERM = 1;
export const ENOSYS = 38;
export const EAFNOSUPPORT = 97;

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
const ALL_NAMESPACE_FLAGS = CLONE_NAMESPACE_FLAGS.reduce((a, b) => a | b, 0n);

/** Socket families a job may use: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK. */
export const ALLOWED_SOCKET_FAMILIES: readonly bigint[] = [1n, 2n, 10n, 16n];
const LOW32 = 0xffffffffn;

/** Everything the baseline refuses outright, with EPERM. */
export const DENIED_SYSCALLS: readonly string[] = [
  // mounts and the new mount API
  'mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'move_mount', 'open_tree', 'open_tree_attr', 'fsopen',
  'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  // namespaces
  'unshare', 'setns',
  // other processes and the kernel's memory
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise', 'move_pages',
  'migrate_pages',
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
];

/**
 * socket(2) with a family outside ALLOWED_SOCKET_FAMILIES. The family is an int
 * but the filter sees the whole 64-bit register, and the kernel ignores its
 * upper half: the small families are matched on the low 32 bits, and anything
 * above AF_NETLINK (garbage in the upper half included) by a 64-bit compare.
 */
const SOCKET_FAMILY_RULES: readonly SeccompRule[] = [
  ...[0n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 11n, 12n, 13n, 14n, 15n].map((family): SeccompRule => ({
    names: ['socket'],
    action: { kind: 'errno', errno: EAFNOSUPPORT },
    args: [{ index: 0, op: 'masked_eq', value: LOW32, valueTwo: family }],
  })),
  { names: ['socket'], action: { kind: 'errno', errno: EAFNOSUPPORT }, args: [{ index: 0, op: 'gt', value: 16n }] },
];

const BASELINE_CONDITIONAL_RULES: readonly SeccompRule[] = [
  { names: ['clone'], action: { kind: 'errno', errno: EPERM }, whenArgHasBits: { arg: 0, bits: CLONE_NAMESPACE_FLAGS } },
  { names: ['clone3'], action: { kind: 'errno', errno: ENOSYS } },
  ...SOCKET_FAMILY_RULES,
];

export const BASELINE_PROFILE: SeccompProfile = {
  name: 'default',
  defaultAction: { kind: 'allow' },
  rules: [{ names: DENIED_SYSCALLS, action: { kind: 'errno', errno: EPERM } }, ...BASELINE_CONDITIONAL_RULES],
};

/** The profile every job gets; kept under its old name. */
export const DEFAULT_PROFILE = BASELINE_PROFILE;

/**
 * What ordinary programs (libc, language runtimes, compilers, shells) call,
 * after Docker's default allowlist. Anything else answers ENOSYS.
 */
export const ALLOWED_SYSCALLS: readonly string[] = [
  'accept', 'accept4', 'access', 'alarm', 'arch_prctl', 'bind', 'brk', 'cachestat', 'capget', 'capset', 'chdir',
  'chmod', 'chown', 'clock_getres', 'clock_gettime', 'clock_nanosleep', 'close', 'close_range', 'connect',
  'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_pwait',
  'epoll_pwait2', 'epoll_wait', 'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat',
  'faccessat2', 'fadvise64', 'fallocate', 'fchdir', 'fchmod', 'fchmodat', 'fchmodat2', 'fchown', 'fchownat',
  'fcntl', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork', 'fremovexattr', 'fsetxattr', 'fstat',
  'fstatfs', 'fsync', 'ftruncate', 'futex', 'futex_requeue', 'futex_wait', 'futex_waitv', 'futex_wake',
  'futimesat', 'get_mempolicy', 'get_robust_list', 'get_thread_area', 'getcpu', 'getcwd', 'getdents',
  'getdents64', 'getegid', 'geteuid', 'getgid', 'getgroups', 'getitimer', 'getpeername', 'getpgid', 'getpgrp',
  'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresuid', 'getrlimit', 'getrusage', 'getsid',
  'getsockname', 'getsockopt', 'gettid', 'gettimeofday', 'getuid', 'getxattr', 'getxattrat', 'inotify_add_watch',
  'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'io_destroy', 'io_getevents',
  'io_pgetevents', 'io_setup', 'io_submit', 'ioctl', 'ioprio_get', 'ioprio_set', 'kill', 'landlock_add_rule',
  'landlock_create_ruleset', 'landlock_restrict_self', 'lchown', 'lgetxattr', 'link', 'linkat', 'listen',
  'listmount', 'listxattr', 'listxattrat', 'llistxattr', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat',
  'madvise', 'map_shadow_stack', 'mbind', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mkdir',
  'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mprotect', 'mq_getsetattr', 'mq_notify',
  'mq_open', 'mq_timedreceive', 'mq_timedsend', 'mq_unlink', 'mremap', 'mseal', 'msgctl', 'msgget', 'msgrcv',
  'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap', 'nanosleep', 'newfstatat', 'open', 'openat', 'openat2',
  'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'poll',
  'ppoll', 'prctl', 'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease', 'pselect6', 'pwrite64',
  'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'recvfrom', 'recvmmsg',
  'recvmsg', 'remap_file_pages', 'removexattr', 'removexattrat', 'rename', 'renameat', 'renameat2',
  'restart_syscall', 'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
  'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_tgsigqueueinfo', 'sched_get_priority_max',
  'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr', 'sched_getparam', 'sched_getscheduler',
  'sched_rr_get_interval', 'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler',
  'sched_yield', 'seccomp', 'select', 'semctl', 'semget', 'semop', 'semtimedop', 'sendfile', 'sendmmsg',
  'sendmsg', 'sendto', 'set_mempolicy', 'set_robust_list', 'set_thread_area', 'set_tid_address', 'setfsgid',
  'setfsuid', 'setgid', 'setgroups', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setresgid', 'setresuid',
  'setreuid', 'setrlimit', 'setsid', 'setsockopt', 'setuid', 'setxattr', 'setxattrat', 'shmat', 'shmctl',
  'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'socketpair', 'splice', 'stat',
  'statfs', 'statmount', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'sysinfo', 'tee',
  'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_settime',
  'timerfd_create', 'timerfd_gettime', 'timerfd_settime', 'times', 'tkill', 'truncate', 'umask', 'uname',
  'unlink', 'unlinkat', 'uretprobe', 'utime', 'utimensat', 'utimes', 'vfork', 'vmsplice', 'wait4', 'waitid',
  'write', 'writev',
];

export const ALLOWLIST_PROFILE: SeccompProfile = {
  name: 'allowlist',
  defaultAction: { kind: 'errno', errno: ENOSYS },
  rules: [
    { names: ALLOWED_SYSCALLS, action: { kind: 'allow' } },
    // clone without namespace flags; with one, EPERM (the baseline's rule, kept
    // here so the answer is the same under both filters).
    { names: ['clone'], action: { kind: 'allow' }, args: [{ index: 0, op: 'masked_eq', value: ALL_NAMESPACE_FLAGS, valueTwo: 0n }] },
    // socket: the allowed families exactly (a 64-bit compare: no garbage above).
    ...ALLOWED_SOCKET_FAMILIES.map((family): SeccompRule => ({ names: ['socket'], action: { kind: 'allow' }, args: [{ index: 0, op: 'eq', value: family }] })),
    ...BASELINE_CONDITIONAL_RULES,
  ],
};

/** Allowlist mode: the profile names what is allowed and refuses the rest. */
export function isAllowlist(profile: SeccompProfile): boolean {
  return profile.defaultAction.kind !== 'allow' && profile.defaultAction.kind !== 'log';
}
