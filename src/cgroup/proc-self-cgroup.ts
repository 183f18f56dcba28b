// Parser for /proc/<pid>/cgroup: which cgroup a process sits in, per hierarchy.
// "ID:CONTROLLERS:PATH"; v1 lines name their controllers ("4:cpu,cpuacct:/x"),
// the v2 line is "0::/path".

export interface ProcCgroupEntry {
  hierarchyId: number;
  /** Empty for the v2 line; may hold "name=systemd" for named v1 hierarchies. */
  controllers: string[];
  /** Path inside the hierarchy, always starting with "/". */
  path: string;
}

export function parseProcSelfCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // Split on the first two colons only: a cgroup path may itself contain ':'.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const hierarchyId = Number(line.slice(0, first));
    const path = line.slice(second + 1).trim();
    if (!Number.isInteger(hierarchyId) || !path.startsWith('/')) continue;
    const controllers = line.slice(first + 1, second).split(',').filter((c) => c !== '');
    entries.push({ hierarchyId, controllers, path });
  }
  return entries;
}
