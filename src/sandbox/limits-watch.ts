// Enforces the limits the kernel cannot end a job for by itself: wall time from
// the moment the sandbox started, and cpu time summed over all the job's
// processes (read from its cgroup). The cpu check is scheduled for the earliest
// moment the limit could be reached at the job's cpu bandwidth, so a job that
// sleeps costs no polling.
import type { JobCgroup } from '../cgroup/index.ts';
import type { KillReason } from './verdict.ts';

const MIN_CHECK_MS = 5;

export class LimitsWatch {
  private wallTimer: NodeJS.Timeout | undefined;
  private cpuTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly cgroup: JobCgroup,
    private readonly limits: { wallMs: number; cpuMs: number; cpus: number },
    private readonly kill: (reason: KillReason) => void,
  ) {}

  /** Call when the sandbox reports it started the job. */
  start(): void {
    if (this.stopped) return;
    this.wallTimer = setTimeout(() => this.kill('wall'), this.limits.wallMs);
    this.scheduleCpuCheck(0);
  }

  private scheduleCpuCheck(usedMs: number): void {
    const wait = Math.max(MIN_CHECK_MS, (this.limits.cpuMs - usedMs) / this.limits.cpus);
    this.cpuTimer = setTimeout(() => this.checkCpu(), wait);
  }

  private checkCpu(): void {
    if (this.stopped) return;
    let usedMs: number;
    try {
      usedMs = this.cgroup.cpuUsageUs() / 1000;
    } catch {
      return; // the cgroup is going away: the job has ended
    }
    if (usedMs >= this.limits.cpuMs) this.kill('cpu');
    else this.scheduleCpuCheck(usedMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.wallTimer);
    clearTimeout(this.cpuTimer);
  }
}
