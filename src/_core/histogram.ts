import type { AcquireTimeHistogram } from "../pool_metrics.ts";

/** Buckets per doubling: each bucket spans a factor of 2^(1/4), about 19%. */
const STEPS_PER_DOUBLING = 4;
/** The lower edge of the first bucket: 1 µs. Smaller values count as 0. */
const MIN_MS = 2 ** -10;
/** Doublings covered above MIN_MS: up to 2^17 ms, about 131 s. */
const DOUBLINGS = 27;
const BUCKETS = DOUBLINGS * STEPS_PER_DOUBLING + 2;

/**
 * A fixed-size histogram of durations in milliseconds, for percentiles at a
 * constant cost per sample and no allocation. Bucket 0 holds values under
 * 1 µs; the last bucket holds everything beyond the range.
 */
export class LatencyHistogram {
  /** Samples per bucket. */
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;
  #max = 0;
  #sum = 0;

  /** Records one duration in milliseconds. */
  record(ms: number): void {
    this.#counts[bucketOf(ms)]++;
    this.#total++;
    if (ms > this.#max) this.#max = ms;
    if (ms >= MIN_MS) this.#sum += ms; // What bucket 0 holds counts as 0 here too.
  }

  /** The number of samples recorded. */
  get count(): number {
    return this.#total;
  }

  /** The milliseconds recorded, summed; samples that count as 0 add nothing. */
  get sum(): number {
    return this.#sum;
  }

  /**
   * Cumulative sample counts at ascending `bounds` in milliseconds: for each
   * bound, the samples whose bucket's upper edge is at or below it, so a
   * sample up to 19% below a bound may count at the next one. The last
   * count is always `count`, whatever the last bound. Costs one pass over
   * the buckets.
   */
  cumulativeCounts(bounds: readonly number[]): number[] {
    const result = new Array<number>(bounds.length).fill(0);
    let b = 0;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const edge = upperEdge(i);
      while (b < bounds.length - 1 && edge > bounds[b]) result[b++] = seen;
      seen += this.#counts[i];
    }
    while (b < bounds.length) result[b++] = seen;
    return result;
  }

  /**
   * The value below which `fraction` (0 to 1) of the samples fall, as the
   * upper edge of its bucket (0 for bucket 0), never above the largest sample. 0 when empty.
   */
  percentile(fraction: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.#total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(upperEdge(i), this.#max);
    }
    // Unreachable: the counts add up to #total, and rank <= #total.
    throw new Error("Bug: histogram counts do not add up");
  }
}

function bucketOf(ms: number): number {
  if (!(ms >= MIN_MS)) return 0; // Yes, NaN lands here too.
  const index = 1 + Math.floor(Math.log2(ms / MIN_MS) * STEPS_PER_DOUBLING);
  return index < BUCKETS ? index : BUCKETS - 1;
}

function upperEdge(index: number): number {
  if (index === 0) return 0; // Values under MIN_MS count as 0, like a hand-out from the idle set.
  if (index === BUCKETS - 1) return Infinity;
  return MIN_MS * 2 ** (index / STEPS_PER_DOUBLING);
}

/** The bounds of `getAcquireHistogram()`, in milliseconds. */
const ACQUIRE_BOUNDS_MS: readonly number[] = [
  0.1,
  0.5,
  1,
  5,
  10,
  50,
  100,
  500,
  1_000,
  5_000,
  Infinity,
];

/** The acquire times as `getAcquireHistogram()` reports them: cumulative counts at fixed bounds. */
export function acquireHistogram(times: LatencyHistogram): AcquireTimeHistogram {
  const counts = times.cumulativeCounts(ACQUIRE_BOUNDS_MS);
  return {
    buckets: ACQUIRE_BOUNDS_MS.map((le, i) => ({ le, count: counts[i] })),
    sum: times.sum,
    count: times.count,
  };
}
