/**
 * The shortest time a ping may take before it counts as doubtful, in
 * milliseconds. Loopback and LAN pings take well under a millisecond, but a
 * busy event loop or a garbage collection can hold an answer back for tens
 * of milliseconds; doubting a ping costs only a connect in parallel (the
 * ping goes on, and a connection that answers stays), so the floor can sit
 * well below an `acquireTimeout` and still above such stalls.
 */
export const DOUBT_FLOOR_MS = 100;

/**
 * How long the pool's own round trips to the server take, smoothed as TCP
 * does for its retransmission timeout (RFC 6298): a mean, and a mean
 * deviation, each sample weighing 1/8 and 1/4. A ping still unanswered after
 * the mean plus four deviations is probably not coming back.
 */
export class RoundTrips {
  /** The smoothed round trip, in milliseconds; undefined before the first sample. */
  #mean: number | undefined;
  #deviation = 0;

  /** Takes one round trip's duration, in milliseconds. */
  sample(ms: number): void {
    if (this.#mean === undefined) {
      this.#mean = ms;
      this.#deviation = ms / 2;
      return;
    }
    this.#deviation = 0.75 * this.#deviation + 0.25 * Math.abs(this.#mean - ms);
    this.#mean = 0.875 * this.#mean + 0.125 * ms;
  }

  /**
   * After how long a round trip is doubtful: the mean plus four deviations,
   * at least {@linkcode DOUBT_FLOOR_MS} and at most `ceiling` (the
   * `checkTimeout`, or Infinity without one); `ceiling` before any sample.
   */
  doubtAfter(ceiling: number): number {
    if (this.#mean === undefined) return ceiling;
    return Math.min(ceiling, Math.max(DOUBT_FLOOR_MS, this.#mean + 4 * this.#deviation));
  }
}
