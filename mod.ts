/**
 * A PostgreSQL connection pool for Deno and Bun: lazy connections up to a
 * limit, FIFO waiting with timeouts and abort signals, lifetime and idle-time
 * limits, periodic health checks, transactions, and metrics. The core is
 * runtime-neutral and speaks to the database through a small driver
 * contract; {@linkcode postgresDriver} wraps postgres.js.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 *
 * await using pool = new ConnectionPool({
 *   driver: postgresDriver("postgres://app:secret@localhost/app"),
 *   maxOpenConns: 10,
 * });
 * const { rows } = await pool.execute("select $1::int as n", [1]);
 * console.log(rows[0].n, pool.getMetrics().openConnections);
 * ```
 *
 * @module
 */

export { type AcquireOptions, ConnectionPool } from "./src/pool.ts";
export type { PoolOptions } from "./src/config.ts";
export type { ExecuteOptions, PoolConnection } from "./src/connection.ts";
export type { IsolationLevel, Transaction, TransactionOptions } from "./src/transaction.ts";
export { sql, type SqlBuilder, type SqlFragment, type SqlResult } from "./src/sql.ts";
export type { Driver, DriverConnection, QueryResult, ServerErrorKind } from "./src/driver.ts";
export { type Clock, systemClock, type TimerHandle } from "./src/clock.ts";
export {
  AcquireTimeoutError,
  CircuitOpenError,
  ConnectionAbandonedError,
  ConnectionLeakError,
  ConnectionReleasedError,
  ConnectTimeoutError,
  PoolClosedError,
  PoolError,
  type PoolErrorCode,
  type PoolErrorEvent,
  PoolExhaustedError,
  PoolNotReadyError,
  QueryTimeoutError,
  TransactionFinishedError,
  TransactionRolledBackError,
} from "./src/errors.ts";
export type { AcquireTimeHistogram, PoolCounters, PoolMetrics } from "./src/pool_metrics.ts";
export type { PoolObserver } from "./src/observer.ts";
export {
  type PostgresCustomType,
  postgresDriver,
  type PostgresDriverOptions,
} from "./src/drivers/postgres/mod.ts";
