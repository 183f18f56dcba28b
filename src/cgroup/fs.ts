// The kernel boundary of the cgroup drivers: every file operation and signal goes through
// a CgroupFs, so unit tests run the real driver code against a fake kernel in a temp dir
// (youki's approach) and only this file talks to the host.

import * as nodeFs from 'node:fs';

export interface CgroupFs {
  /** Whole file as text. Throws Node system errors (ENOENT, ...). */
  readFile(path: string): string;
  /** One write(2) of `data` to an existing file: cgroupfs files take one command per write. */
  writeFile(path: string, data: string): void;
  exists(path: string): boolean;
  /** Create one directory level; throws EEXIST when it is already there. */
  mkdir(path: string): void;
  rmdir(path: string): void;
  /**
   * rmdir off the event loop: removing a cgroup usually takes the kernel tens of
   * microseconds, but at the tail milliseconds (it waits for locks other cgroup
   * operations hold), time the worker's other jobs must not wait for.
   */
  removeDir(path: string): Promise<void>;
  /** Names of the subdirectories (child cgroups) of `path`. */
  listDirs(path: string): string[];
  kill(pid: number, signal: NodeJS.Signals): void;
}

/** The real kernel. */
export const hostCgroupFs: CgroupFs = {
  readFile: (path) => nodeFs.readFileSync(path, 'utf8'),
  writeFile: (path, data) => {
    // O_WRONLY without O_CREAT/O_TRUNC: cgroupfs cannot create files (a missing control file
    // must fail as ENOENT, not as a confusing EACCES), and write-only files such as
    // cgroup.kill refuse an O_RDWR open.
    const fd = nodeFs.openSync(path, nodeFs.constants.O_WRONLY);
    try {
      nodeFs.writeSync(fd, data);
    } finally {
      nodeFs.closeSync(fd);
    }
  },
  exists: (path) => nodeFs.existsSync(path),
  mkdir: (path) => nodeFs.mkdirSync(path),
  rmdir: (path) => nodeFs.rmdirSync(path),
  removeDir: (path) => nodeFs.promises.rmdir(path),
  listDirs: (path) =>
    nodeFs.readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name),
  kill: (pid, signal) => {
    process.kill(pid, signal);
  },
};
