/** Small statistics helpers of the benchmark. */

/** Rounds to two decimals (figures are printed and compared at that precision). */
export const round = (n: number): number => Math.round(n * 100) / 100;

/** Arithmetic mean (0 for no values). */
export const mean = (values: number[]): number =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;

/** The median (lower middle for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** p50/p95/p99 by the nearest-rank method, rounded. */
export function percentiles(values: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0);
  return { p50: at(50), p95: at(95), p99: at(99) };
}

/** Milliseconds since `started` (a performance.now() value). */
export const since = (started: number): number => performance.now() - started;
