// Percentiles and timing loops shared by the benchmarks.

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Series {
  /** ms per launch, sorted */
  latencies: number[];
  p50: number;
  p99: number;
  /** launches per second, one at a time */
  perSecond1: number;
  /** launches per second, two at a time */
  perSecond2: number;
}

/** `n` launches one after another, then `n` two at a time. */
export async function measure(launch: (i: number) => Promise<unknown>, n: number, warmup = 10): Promise<Series> {
  for (let i = 0; i < warmup; i++) await launch(i);
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await launch(i + warmup);
    latencies.push(performance.now() - t);
  }
  const seqSeconds = (performance.now() - t0) / 1000;
  let next = 0;
  const t1 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < n) await launch(n + warmup + next++);
  };
  await Promise.all([lane(), lane()]);
  const parSeconds = (performance.now() - t1) / 1000;
  latencies.sort((a, b) => a - b);
  return { latencies, p50: percentile(latencies, 50), p99: percentile(latencies, 99), perSecond1: n / seqSeconds, perSecond2: n / parSeconds };
}
