// The libc calls Node has no API for. src/sys/ is the only place that imports koffi.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const memfdCreate = libc.func('int memfd_create(const char *name, unsigned int flags)');
const errnoLocation = libc.func('int *__errno_location()');

const MFD_CLOEXEC = 1;

function lastErrno(): number {
  const ptr: unknown = errnoLocation();
  return koffi.decode(ptr, 'int') as number;
}

/** An anonymous in-memory file (for libseccomp to export into). */
export function memfd(name: string): number {
  const fd = memfdCreate(name, MFD_CLOEXEC) as number;
  if (fd < 0) throw new Error(`memfd_create failed: errno ${lastErrno()}`);
  return fd;
}

const pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');
const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const closeFn = libc.func('int close(int fd)');
const iovec = koffi.struct('cellblock_iovec', { iov_base: 'const char *', iov_len: 'size_t' });
const MAX_PASSED_FDS = 8;
const cmsgRights = koffi.struct('cellblock_cmsg_rights', { cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int', fds: koffi.array('int', MAX_PASSED_FDS) });
const msghdr = koffi.struct('cellblock_msghdr', {
  msg_name: 'void *',
  msg_namelen: 'uint32_t',
  msg_iov: koffi.pointer(iovec),
  msg_iovlen: 'size_t',
  msg_control: koffi.pointer(cmsgRights),
  msg_controllen: 'size_t',
  msg_flags: 'int',
});
const sendmsg = libc.func('long sendmsg(int fd, const cellblock_msghdr *msg, int flags)');

const O_CLOEXEC = 0o2000000;
const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const CMSG_HEADER_BYTES = 16;

/** A failed system call, with its errno. */
export class SyscallError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call} failed: errno ${errno}`);
  }
}

/** Two descriptors from a call that fills an int[2]. */
function fdPair(call: string, make: (fds: number[]) => number): [number, number] {
  const fds = [-1, -1];
  if (make(fds) < 0) throw new SyscallError(call, lastErrno());
  return [fds[0]!, fds[1]!];
}

/** A pipe, both ends close-on-exec: [read end, write end]. */
export const pipe = (): [number, number] => fdPair('pipe2', (fds) => pipe2(fds, O_CLOEXEC) as number);

/** A connected pair of Unix sockets that keep message boundaries (SOCK_SEQPACKET), close-on-exec. */
export const seqpacketPair = (): [number, number] => fdPair('socketpair', (fds) => socketpair(AF_UNIX, SOCK_SEQPACKET | O_CLOEXEC, 0, fds) as number);

/** Send one message with descriptors attached (SCM_RIGHTS); blocks while the peer's queue is full. */
export function sendWithFds(socket: number, text: string, fds: readonly number[]): void {
  if (fds.length > MAX_PASSED_FDS) throw new RangeError(`at most ${MAX_PASSED_FDS} descriptors per message`);
  const payload = Buffer.from(text);
  const control = fds.length === 0
    ? { msg_control: null, msg_controllen: 0 }
    : {
        msg_control: { cmsg_len: CMSG_HEADER_BYTES + 4 * fds.length, cmsg_level: SOL_SOCKET, cmsg_type: SCM_RIGHTS, fds: [...fds, ...new Array<number>(MAX_PASSED_FDS - fds.length).fill(-1)] },
        msg_controllen: CMSG_HEADER_BYTES + Math.ceil((4 * fds.length) / 8) * 8,
      };
  for (;;) {
    const sent = sendmsg(socket, { msg_name: null, msg_namelen: 0, msg_iov: { iov_base: text, iov_len: payload.length }, msg_iovlen: 1, ...control, msg_flags: 0 }, MSG_NOSIGNAL) as number;
    if (sent >= 0) return;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SyscallError('sendmsg', errno);
  }
}

/** Close a descriptor Node's own streams do not own. */
export function closeFd(fd: number): void {
  if ((closeFn(fd) as number) < 0) throw new SyscallError('close', lastErrno());
}

const mountFn = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2 = libc.func('int umount2(const char *target, int flags)');
const MS_NOSUID = 2;
const MS_NODEV = 4;

/**
 * Mounts a fresh tmpfs (nosuid, nodev) on `target`, with the given options (mode=, size=).
 * Not noexec: a job's files are an overlay layer in it, and may be programs.
 */
export function mountTmpfs(target: string, options: string): void {
  if ((mountFn('tmpfs', target, 'tmpfs', MS_NOSUID | MS_NODEV, options) as number) < 0) throw new SyscallError(`mount tmpfs on ${target}`, lastErrno());
}

/** Unmounts what is mounted on `target` (the topmost mount there). */
export function unmount(target: string): void {
  if ((umount2(target, 0) as number) < 0) throw new SyscallError(`umount ${target}`, lastErrno());
}
