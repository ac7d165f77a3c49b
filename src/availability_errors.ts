/**
 * The errors of a pool that cannot serve now: its wait queue is full
 * ({@linkcode PoolExhaustedError}), its circuit breaker is open
 * ({@linkcode CircuitOpenError}), or `ready()` gave up
 * ({@linkcode PoolNotReadyError}). Re-exported by `errors.ts`.
 *
 * @module
 */

import { PoolError } from "./pool_error.ts";
import { describeCause } from "./_core/describe_cause.ts";

/**
 * Thrown by `getConnection()` when every connection is open and in use and
 * `maxWaiting` callers already wait: the caller is refused at once rather
 * than queued.
 *
 * @example
 * ```ts
 * import { PoolExhaustedError } from "@x/pool";
 *
 * const error = new PoolExhaustedError(100);
 * console.log(error.code, error.maxWaiting); // "POOL_EXHAUSTED" 100
 * ```
 */
export class PoolExhaustedError extends PoolError {
  /** The `maxWaiting` limit that was reached. */
  readonly maxWaiting: number;

  /**
   * Creates the error.
   *
   * @param maxWaiting The `maxWaiting` limit that was reached.
   */
  constructor(maxWaiting: number) {
    super(
      "POOL_EXHAUSTED",
      `Cannot get a connection: every connection is in use and ${maxWaiting} callers already wait`,
    );
    this.maxWaiting = maxWaiting;
  }
}

/**
 * Thrown at once by `getConnection`, `execute`, `beginTx` and `transaction`
 * while the pool's circuit breaker is open (or half-open, probing), and to
 * every caller waiting when it opens: `breakerThreshold` connects in a row
 * failed with no connection open. Its `cause` is the last connect failure.
 * Also told to `onError` as `"circuit"` on each change of state, with
 * `state` set to the new one.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "@x/pool";
 *
 * const error = new CircuitOpenError("open", { cause: new Error("connect ECONNREFUSED") });
 * console.log(error.code, error.state); // "CIRCUIT_OPEN" "open"
 * ```
 */
export class CircuitOpenError extends PoolError {
  /** The breaker's state: `"open"` or `"halfOpen"` when refused; any, when told to `onError`. */
  readonly state: "closed" | "open" | "halfOpen";

  /**
   * Creates the error.
   *
   * @param state The breaker's state.
   * @param options The last connect failure, as `cause`.
   */
  constructor(state: "closed" | "open" | "halfOpen", options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      "CIRCUIT_OPEN",
      (state === "closed"
        ? "The circuit breaker closed: a connect succeeded"
        : `Cannot get a connection: the circuit breaker is ${
          state === "open" ? "open" : "half-open"
        } after connects failed`) +
        (cause === undefined ? "" : `; the last connect failed: ${describeCause(cause)}`),
      options,
    );
    this.state = state;
  }
}

/**
 * Thrown by `pool.ready()` when its connections did not open: a connect
 * failed for good (a wrong password), the circuit breaker opened, or its
 * timeout ran out. Its `cause` is the last connect failure, when one
 * happened.
 *
 * @example
 * ```ts
 * import { PoolNotReadyError } from "@x/pool";
 *
 * const error = new PoolNotReadyError(2, 0, { cause: new Error("password authentication failed") });
 * console.log(error.code, error.wanted, error.opened); // "NOT_READY" 2 0
 * ```
 */
export class PoolNotReadyError extends PoolError {
  /** The connections `ready()` waited for: `max(1, minIdleConns)`. */
  readonly wanted: number;
  /** The connections open when it gave up. */
  readonly opened: number;

  /**
   * Creates the error.
   *
   * @param wanted The connections `ready()` waited for.
   * @param opened The connections open when it gave up.
   * @param options The last connect failure, as `cause`.
   */
  constructor(wanted: number, opened: number, options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      "NOT_READY",
      `Pool not ready: ${opened} of ${wanted} connections opened` +
        (cause === undefined ? "" : `; the last connect failed: ${describeCause(cause)}`),
      options,
    );
    this.wanted = wanted;
    this.opened = opened;
  }
}
