// What a worker exports to Prometheus: jobs by verdict and tenant, durations and
// setup overhead, cpu and memory by tenant, sandboxes running, leftovers found at
// reconcile. One registry per worker (tests run several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobResult } from '../job/result.ts';
import type { ReconcileReport } from '../sandbox/runner-api.ts';

const MS_BUCKETS_S = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<'verdict' | 'tenant'>;
  private readonly rejected: Counter<'reason'>;
  private readonly duration: Histogram<'phase'>;
  private readonly cpu: Counter<'tenant'>;
  private readonly memory: Histogram<'tenant'>;
  private readonly running: Gauge;
  private readonly leaks: Counter<'kind'>;

  constructor(labels: { worker: string; queue: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'cellblock_' });
    const registers = [this.registry];
    this.jobs = new Counter({ name: 'cellblock_jobs_total', help: 'Jobs finished, by verdict and tenant', labelNames: ['verdict', 'tenant'], registers });
    this.rejected = new Counter({ name: 'cellblock_jobs_rejected_total', help: 'Jobs failed before a sandbox ran (invalid spec, unknown image, ...)', labelNames: ['reason'], registers });
    this.duration = new Histogram({
      name: 'cellblock_job_phase_seconds',
      help: 'Time per job phase: queued, setup (sandbox overhead before exec), run, collect (exit to facts in hand), teardown',
      labelNames: ['phase'],
      buckets: MS_BUCKETS_S,
      registers,
    });
    this.cpu = new Counter({ name: 'cellblock_job_cpu_seconds_total', help: 'CPU time used by jobs (user + system), by tenant', labelNames: ['tenant'], registers });
    this.memory = new Histogram({
      name: 'cellblock_job_memory_peak_bytes',
      help: 'Peak memory of jobs, by tenant',
      labelNames: ['tenant'],
      buckets: [1, 4, 16, 64, 256, 1024, 4096].map((m) => m * 1024 * 1024),
      registers,
    });
    this.running = new Gauge({ name: 'cellblock_sandboxes_running', help: 'Sandboxes running now', registers });
    this.leaks = new Counter({ name: 'cellblock_reconcile_leftovers_total', help: 'Leftovers of dead workers removed at reconcile', labelNames: ['kind'], registers });
  }

  sandboxStarted(): void {
    this.running.inc();
  }

  sandboxEnded(): void {
    this.running.dec();
  }

  jobDone(r: JobResult, tenant: string): void {
    this.jobs.inc({ verdict: r.verdict, tenant });
    if (r.timings.queuedMs !== undefined) this.duration.observe({ phase: 'queued' }, r.timings.queuedMs / 1000);
    this.duration.observe({ phase: 'setup' }, r.timings.setupMs / 1000);
    this.duration.observe({ phase: 'run' }, r.timings.runMs / 1000);
    if (r.timings.collectMs !== undefined) this.duration.observe({ phase: 'collect' }, r.timings.collectMs / 1000);
    this.duration.observe({ phase: 'teardown' }, r.timings.teardownMs / 1000);
    this.cpu.inc({ tenant }, r.stats.cpuMs / 1000);
    this.memory.observe({ tenant }, r.stats.memoryPeakBytes);
  }

  jobRejected(reason: string): void {
    this.rejected.inc({ reason });
  }

  reconciled(r: ReconcileReport): void {
    this.leaks.inc({ kind: 'cgroup' }, r.cgroupsRemoved);
    this.leaks.inc({ kind: 'job_dir' }, r.jobDirsRemoved);
    this.leaks.inc({ kind: 'process' }, r.processesKilled);
  }
}
