import type { PoolEntry } from "./entry.ts";

/**
 * How long, in milliseconds, the statement a shared connection runs now may
 * have run before no more statements join behind it: a slow statement must
 * not hold up the ones queued after it for long. A text that ran longer is
 * remembered as slow, and nothing joins behind it at all the next time.
 */
export const PIPELINE_STALL_MS = 10;

/**
 * How many slow texts are remembered at most; the oldest is forgotten
 * first, so that statements built at run time cannot grow the memory.
 */
export const SLOW_TEXTS_KEPT = 256;

/**
 * Connections lent to single statements that may share them: autocommit
 * statements from `pool.execute` that the driver deems safe to pipeline.
 * A shared connection counts as one connection in use, however many
 * statements it carries; it goes back to the pool when the last one ends.
 */
export class Pipelines {
  /** Statements in flight on one connection at most; more than 0. */
  readonly maxPipeline: number;
  /** Texts whose last run took longer than {@linkcode PIPELINE_STALL_MS}, oldest first. */
  readonly #slowTexts = new Set<string>();

  constructor(maxPipeline: number) {
    this.maxPipeline = maxPipeline;
  }

  /** Starts sharing a connection just lent for a statement. */
  open(entry: PoolEntry): void {
    entry.shared = true;
    entry.inFlight = 0;
    entry.slowInFlight = 0;
  }

  /** Whether `text` ran longer than {@linkcode PIPELINE_STALL_MS} the last time it ran. */
  isSlow(text: string): boolean {
    return this.#slowTexts.size !== 0 && this.#slowTexts.has(text);
  }

  /**
   * The shared connection of `entries`, of `generation`, with the fewest statements in
   * flight that may take one more now: below `maxPipeline`, open, carrying
   * no statement known to be slow, and not stalled behind a statement
   * running past {@linkcode PIPELINE_STALL_MS}.
   */
  pick(entries: Iterable<PoolEntry>, now: number, generation: number): PoolEntry | undefined {
    let best: PoolEntry | undefined;
    // Every open connection: at most maxOpenConns, and only when none is idle.
    for (const entry of entries) {
      if (
        !entry.shared || entry.inFlight >= this.maxPipeline || entry.slowInFlight !== 0 ||
        entry.generation !== generation || entry.driverConnection.closed ||
        now - entry.busySince > PIPELINE_STALL_MS
      ) continue;
      if (best === undefined || entry.inFlight < best.inFlight) best = entry;
    }
    return best;
  }

  /**
   * A statement was sent on `entry`, `slow` if its text is known to be;
   * returns whether it joined others in flight.
   */
  started(entry: PoolEntry, now: number, slow: boolean): boolean {
    if (slow) entry.slowInFlight++;
    if (entry.inFlight++ > 0) return true;
    entry.busySince = now;
    return false;
  }

  /**
   * A statement of `text` on `entry` ended, `slow` as it was when it
   * started. With `answered` (the server answered it, with rows or an
   * error), its run time, from when the one before it ended, decides whether
   * its text is remembered as slow. Returns true when it was the last: the
   * connection is no longer shared and goes back to the pool.
   */
  ended(entry: PoolEntry, now: number, text: string, slow: boolean, answered: boolean): boolean {
    if (slow) entry.slowInFlight--;
    if (answered) this.#learn(text, now - entry.busySince > PIPELINE_STALL_MS);
    // PostgreSQL answers in order: the next statement starts running now.
    entry.busySince = now;
    if (--entry.inFlight > 0) return false;
    entry.shared = false;
    return true;
  }

  #learn(text: string, ranLong: boolean): void {
    if (!ranLong) {
      if (this.#slowTexts.size !== 0) this.#slowTexts.delete(text);
      return;
    }
    // Re-inserted, it becomes the newest.
    this.#slowTexts.delete(text);
    if (this.#slowTexts.size >= SLOW_TEXTS_KEPT) {
      this.#slowTexts.delete(this.#slowTexts.values().next().value!);
    }
    this.#slowTexts.add(text);
  }
}
