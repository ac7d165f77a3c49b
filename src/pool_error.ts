/**
 * The base of every error the pool throws, {@linkcode PoolError}, with its
 * stable `code` ({@linkcode PoolErrorCode}), and the events of the `onError`
 * hook ({@linkcode PoolErrorEvent}). The error classes themselves are in
 * `errors.ts`, which re-exports these.
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
