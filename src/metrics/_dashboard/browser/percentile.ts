/**
 * The page's estimate of a percentile of the acquisitions between two polls,
 * from the change in the acquire histogram. Free of the DOM, so the unit
 * tests import it as the page runs it.
 *
 * @module
 */

import type { PoolJson } from "../../handler.ts";

/** A `metrics.json` histogram's cumulative buckets, `le: null` last. */
export type Buckets = PoolJson["acquireHistogram"]["buckets"];

/**
 * A percentile in milliseconds; `open` means it lay in the unbounded last
 * bucket, so `ms` is only the last finite bound, a floor.
 */
export interface Estimate {
  ms: number;
  open: boolean;
}

/**
 * The `q` percentile, `q` in (0, 1), of the acquisitions counted in
 * `current` but not yet in `previous`; null when nothing was acquired in
 * between.
 */
export function intervalPercentile(
  previous: Buckets,
  current: Buckets,
  q: number,
): Estimate | null {
  // The lifetime counts are cumulative per bucket, so their change is the
  // cumulative count of this interval's acquisitions.
  const counts = current.map((bucket, i) => bucket.count - previous[i].count);
  const total = counts.at(-1);
  if (total === undefined || !(total > 0)) return null;
  const rank = q * total;
  const i = counts.findIndex((count) => count >= rank);
  // Only the last bucket's bound is null, and i - 1 is never the last.
  const lower = i === 0 ? 0 : current[i - 1].le as number;
  const upper = current[i].le;
  if (upper === null) return { ms: lower, open: true };
  // Where in the bucket is unknown: assume its acquisitions spread evenly
  // between its bounds, and interpolate linearly.
  const below = i === 0 ? 0 : counts[i - 1];
  return { ms: lower + (upper - lower) * (rank - below) / (counts[i] - below), open: false };
}
