/**
 * Statistics shared by the benchmarks: mean, median, percentiles, and
 * Jain's fairness index.
 *
 * @module
 */

/** The arithmetic mean; NaN when empty. */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return values.length === 0 ? NaN : sum / values.length;
}

/** A sorted copy, ascending. */
export function sorted(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** The value at `q` (0 to 1) of ascending `values`, interpolated between ranks; NaN when empty. */
export function quantile(ascending: ArrayLike<number>, q: number): number {
  const n = ascending.length;
  if (n === 0) return NaN;
  const rank = q * (n - 1);
  const low = Math.floor(rank);
  const high = Math.min(n - 1, low + 1);
  return ascending[low] + (ascending[high] - ascending[low]) * (rank - low);
}

/** The median of values in any order. */
export function median(values: ArrayLike<number>): number {
  return quantile(sorted(values), 0.5);
}

/**
 * Jain's fairness index of per-caller counts: (Σx)² / (n·Σx²). 1 when every
 * caller got the same share, 1/n when one caller got everything.
 */
export function jain(counts: ArrayLike<number>): number {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < counts.length; i++) {
    sum += counts[i];
    squares += counts[i] * counts[i];
  }
  return squares === 0 ? 1 : (sum * sum) / (counts.length * squares);
}

/** Mean, p50 and p99 of a set of samples. */
export interface Summary {
  mean: number;
  p50: number;
  p99: number;
}

/** Summarizes samples in any order. */
export function summarize(values: ArrayLike<number>): Summary {
  const ascending = sorted(values);
  return { mean: mean(ascending), p50: quantile(ascending, 0.5), p99: quantile(ascending, 0.99) };
}

/**
 * The median, per field, of repeated measurements of the same cell: each
 * numeric field of the result is the median of that field over `runs`.
 */
export function medianOf<T extends Record<string, number>>(runs: readonly T[]): T {
  const result = {} as Record<string, number>;
  for (const key of Object.keys(runs[0] ?? {})) {
    result[key] = median(runs.map((run) => run[key]));
  }
  return result as T;
}
