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
