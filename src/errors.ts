/**
 * The errors the pool throws for conditions a caller may want to catch, each
 * with a stable `code` from {@linkcode PoolErrorCode}, and the events of the
 * `onError` hook ({@linkcode PoolErrorEvent}). Database errors are not wrapped: they reach the caller
 * as the driver raised them, with PostgreSQL's SQLSTATE in `code`.
 *
 * @module
 */

/**
 * Every `code` a {@linkcode PoolError} carries: a closed set, so a `switch`
 * over it is checked for exhaustiveness. Database errors are not wrapped and
 * carry PostgreSQL's SQLSTATE in their own `code` instead.
 *
 * The pool's:
 * - `"POOL_CLOSED"`: the pool is closing or closed ({@linkcode PoolClosedError}).
 * - `"ACQUIRE_TIMEOUT"`: no connection became free within the acquire
 *   timeout ({@linkcode AcquireTimeoutError}).
 * - `"POOL_EXHAUSTED"`: every connection is in use and `maxWaiting` callers
 *   already wait ({@linkcode PoolExhaustedError}).
 * - `"CONNECT_TIMEOUT"`: the driver did not open a connection within
 *   `connectTimeout` ({@linkcode ConnectTimeoutError}).
 * - `"CONNECTION_RELEASED"`: a connection was used after `release()`
 *   ({@linkcode ConnectionReleasedError}).
 * - `"QUERY_TIMEOUT"`: a statement ran past its `timeout`
 *   ({@linkcode QueryTimeoutError}).
 * - `"TRANSACTION_FINISHED"`: a transaction was used after it ended
 *   ({@linkcode TransactionFinishedError}).
 * - `"TRANSACTION_ROLLED_BACK"`: `commit()` found the transaction rolled back
 *   ({@linkcode TransactionRolledBackError}).
 * - `"CONNECTION_LEAK"`: a loan lasted past `leakDetectionThreshold`; told
 *   to `onError` only ({@linkcode ConnectionLeakError}).
 * - `"CONNECTION_ABANDONED"`: a handle was collected without `release()`;
 *   told to `onError` only ({@linkcode ConnectionAbandonedError}).
 * - `"CHECK_TIMEOUT"`: a ping or reset of the pool's own got no answer
 *   within `checkTimeout`; told to `onError` (`"healthCheck"`,
 *   `"validation"` or `"reset"`), and the connection was closed.
 * - `"CONNECTION_LOST"`: an idle connection closed on its own with no error
 *   from the driver; told to `onError` as `"connectionLost"`.
 * - `"CIRCUIT_OPEN"`: the circuit breaker is open after `breakerThreshold`
 *   failed connects; refused at once ({@linkcode CircuitOpenError}).
 * - `"NOT_READY"`: `pool.ready()` failed to open its connections
 *   ({@linkcode PoolNotReadyError}).
 *
 * A `ClusterPool`'s (from `@x/pool/cluster`):
 * - `"PRIMARY_READ_ONLY"`: the primary refuses writes (`PrimaryReadOnlyError`).
 * - `"NO_PRIMARY"`: a cluster of `members` has no single primary, so it
 *   refuses writes (`NoPrimaryError`).
 * - `"NO_HEALTHY_REPLICA"`: a read found no replica in rotation and
 *   `readFallback` is `"fail"` (`NoHealthyReplicaError`).
 * - `"REPLICATION_LAG"`: a replica fell behind `maxReplicationLag`; told to
 *   `onError` as `"replicationLag"` (`ReplicationLagError`).
 * - `"HEALTH_CHECK_TIMEOUT"`: a member's probe got no answer within
 *   `probeTimeout`; told to `onError` as `"healthCheck"`.
 * - `"REPLICA_NOT_IN_RECOVERY"`: a replica is no longer in recovery (it was
 *   promoted) and left rotation; told to `onError` as `"role"`.
 * - `"REPLICA_UNREACHABLE"`: a read found its replica unreachable and ran
 *   again elsewhere; told to `onError` as `"readFailover"`.
 *
 * @example Handling each of the pool's conditions
 * ```ts
 * import { PoolError, type PoolErrorCode } from "@x/pool";
 *
 * function retryable(code: PoolErrorCode): boolean {
 *   return code === "ACQUIRE_TIMEOUT" || code === "CONNECT_TIMEOUT" || code === "POOL_EXHAUSTED";
 * }
 * try {
 *   throw new PoolError("ACQUIRE_TIMEOUT", "Cannot get a connection: none came in 30000 ms");
 * } catch (error) {
 *   if (error instanceof PoolError && retryable(error.code)) console.log("try again later");
 * }
 * ```
 */
export type PoolErrorCode =
  | "POOL_CLOSED"
  | "ACQUIRE_TIMEOUT"
  | "POOL_EXHAUSTED"
  | "CONNECT_TIMEOUT"
  | "CONNECTION_RELEASED"
  | "QUERY_TIMEOUT"
  | "TRANSACTION_FINISHED"
  | "TRANSACTION_ROLLED_BACK"
  | "CONNECTION_LEAK"
  | "CONNECTION_ABANDONED"
  | "CHECK_TIMEOUT"
  | "CONNECTION_LOST"
  | "CIRCUIT_OPEN"
  | "NOT_READY"
  | "PRIMARY_READ_ONLY"
  | "NO_PRIMARY"
  | "NO_HEALTHY_REPLICA"
  | "REPLICATION_LAG"
  | "HEALTH_CHECK_TIMEOUT"
  | "REPLICA_NOT_IN_RECOVERY"
  | "REPLICA_UNREACHABLE";

/**
 * Where a background failure happened, told to the `onError` hook.
 *
 * - `"connect"`: opening a connection failed. A failure the driver deems
 *   permanent goes to the waiting callers instead, if there are any.
 * - `"healthCheck"`: a periodic ping failed; the connection was closed.
 * - `"validation"`: the ping of a connection idle past `validateAfterIdle`
 *   failed before hand-out; the connection was closed, and the caller got
 *   another one.
 * - `"reset"`: rolling back a connection released mid-transaction failed;
 *   the connection was closed.
 * - `"connectionLost"`: an idle connection closed on its own (the server or
 *   the network ended it).
 * - `"close"`: closing a connection failed.
 * - `"failover"`: an error said the server is gone or read-only (see
 *   `Driver.classifyError`); every connection was retired, as by `pool.reset()`.
 * - `"leak"`: a connection has been held longer than
 *   `leakDetectionThreshold`; the error is a `ConnectionLeakError` whose
 *   stack is that of the `getConnection()` call that took it.
 * - `"observer"`: a `PoolObserver` registered with
 *   `pool.observe()` threw; the pool went on.
 * - `"circuit"`: the circuit breaker changed state (see `breakerThreshold`);
 *   the error is a {@linkcode CircuitOpenError} whose message names the new
 *   state and whose `cause` is the last connect failure.
 *
 * @example
 * ```ts
 * import type { PoolErrorEvent } from "@x/pool";
 *
 * const onError = (error: unknown, event: PoolErrorEvent) => {
 *   if (event !== "leak") console.error(`pool ${event}:`, error);
 * };
 * ```
 */
export type PoolErrorEvent =
  | "connect"
  | "healthCheck"
  | "validation"
  | "reset"
  | "connectionLost"
  | "close"
  | "failover"
  | "leak"
  | "observer"
  | "circuit";

/**
 * The base class of the pool's own errors.
 *
 * @example Telling the pool's errors from database errors
 * ```ts
 * import { PoolError } from "@x/pool";
 *
 * try {
 *   throw new PoolError("POOL_CLOSED", "Cannot get a connection: the pool is closed");
 * } catch (error) {
 *   if (error instanceof PoolError) console.log(error.code); // "POOL_CLOSED"
 * }
 * ```
 */
export class PoolError extends Error {
  /** A stable, machine-readable name of the condition; see {@linkcode PoolErrorCode}. */
  readonly code: PoolErrorCode;

  /**
   * Creates an error with a code.
   *
   * @param code A stable, machine-readable name of the condition.
   * @param message What happened, in a sentence.
   * @param options The underlying error, if any, as `cause`.
   */
  constructor(code: PoolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

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

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
