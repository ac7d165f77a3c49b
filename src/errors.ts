/**
 * The errors the pool throws for conditions a caller may want to catch, each
 * with a stable `code` from {@linkcode PoolErrorCode}, and the events of the
 * `onError` hook ({@linkcode PoolErrorEvent}). Database errors are not wrapped: they reach the caller
 * as the driver raised them, with PostgreSQL's SQLSTATE in `code`.
 *
 * @module
 */

import { PoolError } from "./pool_error.ts";
import { describeCause } from "./_core/describe_cause.ts";

export { PoolError, type PoolErrorCode, type PoolErrorEvent } from "./pool_error.ts";
export * from "./availability_errors.ts";
export * from "./leak_errors.ts";

/**
 * Thrown by every call on a pool that is closing or closed, and to every
 * caller still waiting for a connection when `close()` is called.
 *
 * @example
 * ```ts
 * import { PoolClosedError } from "@x/pool";
 *
 * const error = new PoolClosedError();
 * console.log(error.code); // "POOL_CLOSED"
 * ```
 */
export class PoolClosedError extends PoolError {
  /**
   * Creates the error.
   *
   * @param message What was refused.
   */
  constructor(message = "Cannot use the pool: it is closed") {
    super("POOL_CLOSED", message);
  }
}

/**
 * Thrown when no connection became free within the acquire timeout.
 *
 * @example
 * ```ts
 * import { AcquireTimeoutError } from "@x/pool";
 *
 * const error = new AcquireTimeoutError(30_000);
 * console.log(error.code, error.timeout); // "ACQUIRE_TIMEOUT" 30000
 * ```
 */
export class AcquireTimeoutError extends PoolError {
  /** The timeout that ran out, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The timeout that ran out, in milliseconds.
   * @param options What led to it, if known, as `cause`.
   */
  constructor(timeout: number, options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      "ACQUIRE_TIMEOUT",
      `Cannot get a connection: none became free within ${timeout} ms` +
        (cause === undefined ? "" : `; the last connect failed: ${describeCause(cause)}`),
      options,
    );
    this.timeout = timeout;
  }
}

/**
 * Thrown when the driver did not open a connection within the connect
 * timeout.
 *
 * @example
 * ```ts
 * import { ConnectTimeoutError } from "@x/pool";
 *
 * const error = new ConnectTimeoutError(10_000);
 * console.log(error.code); // "CONNECT_TIMEOUT"
 * ```
 */
export class ConnectTimeoutError extends PoolError {
  /** The timeout that ran out, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The timeout that ran out, in milliseconds.
   */
  constructor(timeout: number) {
    super(
      "CONNECT_TIMEOUT",
      `Cannot open a connection: the driver did not connect within ${timeout} ms`,
    );
    this.timeout = timeout;
  }
}

/**
 * Thrown when a connection is used after it was released to the pool.
 *
 * @example
 * ```ts
 * import { ConnectionReleasedError } from "@x/pool";
 *
 * const error = new ConnectionReleasedError("execute");
 * console.log(error.message); // "Cannot execute: the connection was released to the pool"
 * ```
 */
export class ConnectionReleasedError extends PoolError {
  /**
   * Creates the error.
   *
   * @param action The call that was refused, such as `"execute"`.
   */
  constructor(action: string) {
    super(
      "CONNECTION_RELEASED",
      `Cannot ${action}: the connection was released to the pool`,
    );
  }
}

/**
 * Thrown when a transaction is used after `commit()` or `rollback()`.
 *
 * @example
 * ```ts
 * import { TransactionFinishedError } from "@x/pool";
 *
 * const error = new TransactionFinishedError("execute", "committed");
 * console.log(error.message); // "Cannot execute: the transaction was already committed"
 * ```
 */
export class TransactionFinishedError extends PoolError {
  /**
   * Creates the error.
   *
   * @param action The call that was refused, such as `"commit"`.
   * @param outcome How the transaction ended: `"committed"` or `"rolled back"`.
   */
  constructor(action: string, outcome: string) {
    super(
      "TRANSACTION_FINISHED",
      `Cannot ${action}: the transaction was already ${outcome}`,
    );
  }
}

/**
 * Thrown by `commit()` when the server rolled the transaction back instead,
 * because a statement in it had failed. PostgreSQL answers such a `COMMIT`
 * without an error; this makes the lost writes visible.
 *
 * @example
 * ```ts
 * import { TransactionRolledBackError } from "@x/pool";
 *
 * const error = new TransactionRolledBackError();
 * console.log(error.code); // "TRANSACTION_ROLLED_BACK"
 * ```
 */
export class TransactionRolledBackError extends PoolError {
  /** Creates the error. */
  constructor() {
    super(
      "TRANSACTION_ROLLED_BACK",
      "Cannot commit: the server rolled the transaction back because a statement in it failed",
    );
  }
}

/**
 * Thrown when a statement ran longer than the `timeout` given to `execute`.
 * The pool asked the server to cancel it; a connection whose statement does
 * not end after that is closed rather than reused.
 *
 * @example
 * ```ts
 * import { QueryTimeoutError } from "@x/pool";
 *
 * const error = new QueryTimeoutError(2_000);
 * console.log(error.code, error.timeout); // "QUERY_TIMEOUT" 2000
 * ```
 */
export class QueryTimeoutError extends PoolError {
  /** The timeout that ran out, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The timeout that ran out, in milliseconds.
   */
  constructor(timeout: number) {
    super("QUERY_TIMEOUT", `Cannot finish the statement: it ran longer than ${timeout} ms`);
    this.timeout = timeout;
  }
}
