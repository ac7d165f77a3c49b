/**
 * What the pool counts, as returned by `ConnectionPool.getMetrics()`.
 *
 * @module
 */

/**
 * Counters that only grow over the pool's life.
 *
 * @example
 * ```ts
 * import type { PoolCounters } from "@x/pool";
 *
 * function closedByLimits(counters: PoolCounters): number {
 *   return counters.maxIdleClosed + counters.maxIdleTimeClosed + counters.maxLifetimeClosed;
 * }
 * ```
 */
export interface PoolCounters {
  /** Connections handed to callers, each pipelined statement counted as one. */
  acquireCount: number;
  /** Acquisitions that had to wait because no connection was idle. */
  waitCount: number;
  /** Milliseconds spent waiting, summed over every wait that ended. */
  waitDuration: number;
  /** Waits that ended with `AcquireTimeoutError`. */
  acquireTimeouts: number;
  /** `getConnection()` calls refused at once with `PoolExhaustedError` (`maxWaiting`). */
  acquireRejections: number;
  /**
   * Statements `pool.execute` sent on a connection that already had one in
   * flight (pipelining; see `maxPipeline`).
   */
  pipelinedStatements: number;
  /** Connections the driver opened. */
  connectionsCreated: number;
  /** Attempts to open a connection that failed or timed out. */
  connectErrors: number;
  /** Times the circuit breaker opened from closed (see `breakerThreshold`). */
  circuitOpens: number;
  /** Calls refused, and waiters failed, with `CircuitOpenError`. */
  circuitRejections: number;
  /** Connections closed on release because `maxIdleConns` were already idle. */
  maxIdleClosed: number;
  /** Connections closed after being idle for `connMaxIdleTime`. */
  maxIdleTimeClosed: number;
  /** Connections closed after living for `connMaxLifetime`. */
  maxLifetimeClosed: number;
  /**
   * Connections that closed on their own (ended by the server or the
   * network), or that could not be reset after a release mid-transaction.
   */
  connectionsLost: number;
  /** Calls to `pool.reset()`. */
  poolResets: number;
  /** Connections closed because a `pool.reset()` retired them. */
  resetClosed: number;
  /** Loans held past `leakDetectionThreshold`, each reported once to `onError`. */
  leaksDetected: number;
  /**
   * Loans whose handle was garbage-collected without `release()`; each
   * connection was taken back. Only while leak detection is on.
   */
  leaksReclaimed: number;
  /**
   * Connections idle past `validateAfterIdle` whose ping failed before
   * hand-out; each was closed, and its caller served by another.
   */
  validationsFailed: number;
  /** Health-check pings that succeeded. */
  healthChecksPassed: number;
  /** Health-check pings that failed; each failed connection was closed. */
  healthChecksFailed: number;
  /** Milliseconds spent in health-check pings, summed. */
  healthCheckDuration: number;
  /**
   * Statements `pool.execute` and transactions `pool.transaction` ran again
   * after a failure that allowed it (see `retries` and `idempotent`).
   */
  retries: number;
}

/**
 * A snapshot of the pool: its connections now, its counters since it was
 * created, and derived figures.
 *
 * `openConnections` is always `inUse + idle + connecting + checking`, and
 * never more than `maxOpenConnections`.
 *
 * @example Printing the pool's state
 * ```ts
 * import type { PoolMetrics } from "@x/pool";
 *
 * function describe(m: PoolMetrics): string {
 *   return `${m.inUse}/${m.openConnections} in use, ${m.waiting} waiting, p99 ${m.acquireTimeP99} ms`;
 * }
 * ```
 */
export interface PoolMetrics extends PoolCounters {
  /** The `maxOpenConns` limit. */
  maxOpenConnections: number;
  /** Connections open or being opened. */
  openConnections: number;
  /** Connections held by callers. */
  inUse: number;
  /** Connections ready to be handed out. */
  idle: number;
  /** Connections being opened. */
  connecting: number;
  /**
   * Connections busy with the pool's own round trips: a health-check or
   * validation ping, or the reset of a released connection (its rollback,
   * or with `resetSession` the clearing of its session).
   */
  checking: number;
  /** Callers waiting for a connection now. */
  waiting: number;
  /**
   * The circuit breaker: `"closed"` (connects and callers go through),
   * `"open"` (callers are refused with `CircuitOpenError`) or `"halfOpen"`
   * (refused too, while one probe connect is in flight). Always `"closed"`
   * with `breakerThreshold` 0.
   */
  circuitState: "closed" | "open" | "halfOpen";
  /**
   * The median time from `getConnection()` to hand-out, in milliseconds,
   * over the pool's life; within 19% (bucket resolution). A hand-out from
   * the idle set counts as 0.
   */
  acquireTimeP50: number;
  /** The 99th percentile of the same, in milliseconds. */
  acquireTimeP99: number;
  /** As `ConnectionPool.getUtilization()`: percent of open-connection time in use, over the last 10 s. */
  utilization: number;
}

/**
 * The acquire times of a pool over its life, as cumulative buckets, for a
 * Prometheus histogram; returned by `ConnectionPool.getAcquireHistogram()`.
 * Times are in milliseconds, from `getConnection()` to hand-out; a hand-out
 * from the idle set counts as 0.
 *
 * @example Average acquire time
 * ```ts
 * import type { AcquireTimeHistogram } from "@x/pool";
 *
 * function average(h: AcquireTimeHistogram): number {
 *   return h.count === 0 ? 0 : h.sum / h.count;
 * }
 * ```
 */
export interface AcquireTimeHistogram {
  /**
   * Ascending upper bounds in milliseconds (the last is `Infinity`), each
   * with the number of samples at or below it; within 19% (bucket
   * resolution): a sample just below a bound may count at the next one.
   */
  buckets: { le: number; count: number }[];
  /** Milliseconds summed over every sample. */
  sum: number;
  /** The number of samples, the count of the last bucket. */
  count: number;
}
