// Percentiles and timing loops shared by the benchmarks.

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export interface Rate {
  /** Launches in flight at once. */
  concurrency: number;
  perSecond: number;
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
  /** launches per second at every concurrency measured, 1 and 2 included, ascending */
  rates: Rate[];
}

export interface MeasureOptions {
  /** Launches before timing starts (not counted). Default 10. */
  warmup?: number;
  /** Concurrencies to measure throughput at, besides 1 and 2 (always measured). */
  concurrencies?: readonly number[];
}

type Launch = (i: number) => Promise<unknown>;

/** ms of each of `n` launches run one after another, indices from `firstIndex`, in launch order. */
export async function sequentialLatencies(launch: Launch, n: number, firstIndex = 0): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await launch(firstIndex + i);
    latencies.push(performance.now() - t);
  }
  return latencies;
}

/**
 * Launches per second of `n` launches with `concurrency` of them in flight at
 * once: that many lanes, each starting the next launch as soon as its last ends.
 */
export async function throughput(launch: Launch, n: number, concurrency: number, firstIndex = 0): Promise<number> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await launch(firstIndex + next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  return n / ((performance.now() - t0) / 1000);
}

/** `n` launches one after another (latencies, and the rate at concurrency 1), then `n` at each other concurrency. */
export async function measure(launch: Launch, n: number, opts: MeasureOptions = {}): Promise<Series> {
  const warmup = opts.warmup ?? 10;
  for (let i = 0; i < warmup; i++) await launch(i);
  const t0 = performance.now();
  const latencies = await sequentialLatencies(launch, n, warmup);
  const rates: Rate[] = [{ concurrency: 1, perSecond: n / ((performance.now() - t0) / 1000) }];
  const others = [...new Set([2, ...(opts.concurrencies ?? [])])].filter((c) => c > 1).sort((a, b) => a - b);
  for (const [k, concurrency] of others.entries()) {
    rates.push({ concurrency, perSecond: await throughput(launch, n, concurrency, warmup + n * (k + 1)) });
  }
  latencies.sort((a, b) => a - b);
  return {
    latencies,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perSecond1: rateAt(rates, 1),
    perSecond2: rateAt(rates, 2),
    rates,
  };
}

/** The rate measured at `concurrency`, NaN if it was not measured. */
export function rateAt(rates: readonly Rate[], concurrency: number): number {
  return rates.find((r) => r.concurrency === concurrency)?.perSecond ?? Number.NaN;
}
