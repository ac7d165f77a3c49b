import type { TimerHandle } from "../clock.ts";
import type { DriverConnection } from "../driver.ts";

/** Where a connection is: each state is one count in the metrics. */
export type ConnectionState = "idle" | "inUse" | "checking" | "closed";

/** The pool's record of one established connection: its state, its times, its loans. */
export class PoolEntry {
  state: ConnectionState = "idle";
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
