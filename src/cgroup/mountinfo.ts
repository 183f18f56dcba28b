// Parser for /proc/self/mountinfo, keeping the cgroup and cgroup2 mounts: where each v1
// hierarchy is mounted and which part of it (the mount's root) the mount shows.

export interface CgroupMount {
  fsType: 'cgroup' | 'cgroup2';
  /** The cgroup path shown at the mount point ("/" unless a container bind-mounted a subtree). */
  root: string;
  mountPoint: string;
  /** Super options: for v1 the controllers of the hierarchy ("rw", "cpu", "cpuacct"). */
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseCgroupMounts(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:7 - cgroup cgroup rw,memory"
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    const fsType = after[0];
    const root = before[3];
    const mountPoint = before[4];
    if ((fsType !== 'cgroup' && fsType !== 'cgroup2') || root === undefined || mountPoint === undefined) continue;
    mounts.push({
      fsType,
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      superOptions: (after[2] ?? '').split(','),
    });
  }
  return mounts;
}
