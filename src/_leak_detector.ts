import type { Clock } from "./clock.ts";
import type { ConnectionLeakError } from "./errors.ts";
import type { PooledConnection } from "./_pooled_connection.ts";

/**
 * Watches loans for `leakDetectionThreshold`: one timer per loan, started
 * when the connection is handed out and cleared when it comes back. The pool
 * creates one only when the option is on.
 */
export class LeakDetector {
  readonly #clock: Clock;
  readonly #onLeak: (entry: PooledConnection, origin: ConnectionLeakError) => void;

  constructor(
    clock: Clock,
    /** Milliseconds a loan may last before it is reported; more than 0. */
    readonly threshold: number,
    onLeak: (entry: PooledConnection, origin: ConnectionLeakError) => void,
  ) {
    this.#clock = clock;
    this.#onLeak = onLeak;
  }

  /** Starts the timer of a loan; `origin` was created in its `getConnection()` call. */
  watch(entry: PooledConnection, origin: ConnectionLeakError): void {
    entry.leakTimer = this.#clock.setTimeout(() => {
      entry.leakTimer = undefined;
      this.#onLeak(entry, origin);
    }, this.threshold);
  }

  /** Stops the timer of a loan that ended. */
  unwatch(entry: PooledConnection): void {
    this.#clock.clearTimeout(entry.leakTimer);
    entry.leakTimer = undefined;
  }
}
