import type { TimerHandle } from "../clock.ts";
import type { DriverConnection } from "../driver.ts";

/**
 * Where a connection is. Only `EntryLedger.move()` changes it, and each
 * state but `new` and `closed` is one count in the metrics.
 *
 * - `new`: just opened, not yet placed.
 * - `idle`: in the idle set, ready to lend.
 * - `inUse`: lent to a caller.
 * - `checking`: busy with the pool's own round trip: a health check, or a
 *   reset after release.
 * - `validating`: pinged before hand-out; like a connect, it will serve a waiter.
 * - `closed`: retired; no longer counted.
 */
export type EntryState = "new" | "idle" | "inUse" | "checking" | "validating" | "closed";

/** The pool's record of one established connection: its state, its times, its loans. */
export class PoolEntry {
  state: EntryState = "new";
  /** When it was last released, or opened: the start of its idle time. */
  lastUsedAt: number;
  /** When it last proved to work: released after use, opened, or pinged. */
  provenAt: number;
  /** When the current loan began, from the pool's clock. */
  lentAt = 0;
  /** The leak-detection timer of the current loan, if one runs. */
  leakTimer: TimerHandle | undefined = undefined;
  /** Loans so far, counted only while leak detection is on. */
  loans = 0;
  /**
   * While leak detection is on and a statement of the current loan runs: its
   * handle, kept reachable so the leak reclaimer cannot take the connection
   * from a caller that holds only the statement's promise.
   */
  runningFor: object | undefined = undefined;
  /** Statements of the current loan still running, counted only while leak detection is on. */
  running = 0;
  /** Set while lent to single statements that share it (pipelining); see `Pipelines`. */
  shared = false;
  /** Statements in flight on it while shared. */
  inFlight = 0;
  /** While shared: when the statement it runs now started, roughly (when the one before ended). */
  busySince = 0;
  /** While shared: statements in flight whose text is known to run long; none joins behind one. */
  slowInFlight = 0;
  /** Set with `resetSession: "auto"` once a borrower changed its session; cleared by the reset. */
  sessionChanged = false;

  constructor(
    readonly driverConnection: DriverConnection,
    /** When it must retire, from the pool's clock; Infinity for never. */
    readonly expiresAt: number,
    openedAt: number,
    /** The pool's `reset()` count when its connect started; an older one is retired. */
    readonly generation: number,
  ) {
    this.lastUsedAt = openedAt;
    this.provenAt = openedAt;
  }
}
