/**
 * The errors leak detection reports to `onError`: a connection held past
 * `leakDetectionThreshold` ({@linkcode ConnectionLeakError}), and one dropped
 * without a release and taken back ({@linkcode ConnectionAbandonedError}).
 * Re-exported by `errors.ts`.
 *
 * @module
 */

import { PoolError } from "./pool_error.ts";

/**
 * Told to the `onError` hook (event `"leak"`) when a connection has been held
 * longer than `leakDetectionThreshold`. Its stack is the stack of the
 * `getConnection()` call that took the connection. Never thrown by the pool.
 *
 * @example
 * ```ts
 * import { ConnectionLeakError } from "@x/pool";
 *
 * const error = new ConnectionLeakError(60_000);
 * console.log(error.code, error.threshold); // "CONNECTION_LEAK" 60000
 * ```
 */
export class ConnectionLeakError extends PoolError {
  /** The `leakDetectionThreshold` that was passed, in milliseconds. */
  readonly threshold: number;

  /**
   * Creates the error; its stack is where it is created.
   *
   * @param threshold The `leakDetectionThreshold`, in milliseconds.
   */
  constructor(threshold: number) {
    super(
      "CONNECTION_LEAK",
      `Connection held for more than ${threshold} ms without release: it was taken at the stack below`,
    );
    this.threshold = threshold;
  }
}

/**
 * Told to the `onError` hook (event `"leak"`) when a connection's handle was
 * garbage-collected without `release()`; the pool has taken the connection
 * back. Its `cause` is a {@linkcode ConnectionLeakError} whose stack is that
 * of the `getConnection()` call. Only while `leakDetectionThreshold` is on.
 * Never thrown by the pool.
 *
 * @example
 * ```ts
 * import { ConnectionAbandonedError } from "@x/pool";
 *
 * const error = new ConnectionAbandonedError();
 * console.log(error.code); // "CONNECTION_ABANDONED"
 * ```
 */
export class ConnectionAbandonedError extends PoolError {
  /**
   * Creates the error.
   *
   * @param options Where the connection was taken, as `cause`.
   */
  constructor(options?: ErrorOptions) {
    super(
      "CONNECTION_ABANDONED",
      "A connection was garbage-collected without release(); the pool took it back",
      options,
    );
  }
}
