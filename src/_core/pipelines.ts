import type { PoolEntry } from "./entry.ts";

/**
 * How long, in milliseconds, the statement a shared connection runs now may
 * have run before no more statements join behind it: a slow statement must
 * not hold up the ones queued after it for long.
 */
export const PIPELINE_STALL_MS = 10;

/**
 * Connections lent to single statements that may share them: autocommit
 * statements from `pool.execute` that the driver deems safe to pipeline.
 * A shared connection counts as one connection in use, however many
 * statements it carries; it goes back to the pool when the last one ends.
 */
export class Pipelines {
  /** Statements in flight on one connection at most; more than 0. */
  readonly maxPipeline: number;

  constructor(maxPipeline: number) {
    this.maxPipeline = maxPipeline;
  }

  /** Starts sharing a connection just lent for a statement. */
  open(entry: PoolEntry): void {
    entry.shared = true;
    entry.inFlight = 0;
  }

  /**
   * The shared connection of `entries`, of `generation`, with the fewest statements in
   * flight that may take one more now: below `maxPipeline`, open, and not
   * stalled behind a statement running past {@linkcode PIPELINE_STALL_MS}.
   */
  pick(entries: Iterable<PoolEntry>, now: number, generation: number): PoolEntry | undefined {
    let best: PoolEntry | undefined;
    // Every open connection: at most maxOpenConns, and only when none is idle.
    for (const entry of entries) {
      if (
        !entry.shared || entry.inFlight >= this.maxPipeline || entry.generation !== generation ||
        entry.driverConnection.closed || now - entry.busySince > PIPELINE_STALL_MS
      ) continue;
      if (best === undefined || entry.inFlight < best.inFlight) best = entry;
    }
    return best;
  }

  /** A statement was sent on `entry`; returns whether it joined others in flight. */
  started(entry: PoolEntry, now: number): boolean {
    if (entry.inFlight++ > 0) return true;
    entry.busySince = now;
    return false;
  }

  /**
   * A statement on `entry` ended. Returns true when it was the last: the
   * connection is no longer shared and goes back to the pool.
   */
  ended(entry: PoolEntry, now: number): boolean {
    // PostgreSQL answers in order: the next statement starts running now.
    entry.busySince = now;
    if (--entry.inFlight > 0) return false;
    entry.shared = false;
    return true;
  }
}
