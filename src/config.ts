/**
 * The pool's options: what each one means, its unit and its default.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Driver } from "./driver.ts";
import type { PoolErrorEvent } from "./errors.ts";

/**
 * Options for {@linkcode ConnectionPool}. Every duration is in milliseconds.
 *
 * @example A pool of up to 25 connections, 10 of them kept idle
 * ```ts
 * import { ConnectionPool, postgresDriver, type PoolOptions } from "@x/pool";
 *
 * const options: PoolOptions = {
 *   driver: postgresDriver("postgres://app:secret@localhost/app"),
 *   maxOpenConns: 25,
 *   maxIdleConns: 10,
 *   connMaxLifetime: 3_600_000,
 *   onError: (error, event) => console.error(`pool ${event}:`, error),
 * };
 * const pool = new ConnectionPool(options);
 * await pool.close();
 * ```
 */
export interface PoolOptions {
  /** Opens the connections. Required. */
  driver: Driver;
  /**
   * The pool's name, a non-empty string, as `pool.name`; it labels the
   * pool's metrics (the `pool` label of `metricsHandler`). Default
   * `"default"`.
   */
  name?: string;
  /**
   * The most connections open at once, counting those being opened.
   * An integer of at least 1. Default 10.
   */
  maxOpenConns?: number;
  /**
   * The most connections kept idle; a connection released beyond that is
   * closed. An integer from 0 to `maxOpenConns`. Default `maxOpenConns`.
   */
  maxIdleConns?: number;
  /**
   * Milliseconds after which a connection is retired: closed when idle, or
   * on release when in use. 0 means no limit. Default 1,800,000 (30 min).
   */
  connMaxLifetime?: number;
  /**
   * Milliseconds up to which each connection's lifetime is shortened, at
   * random, so connections opened together do not all expire together. From
   * 0 (off) to `connMaxLifetime`. Default a tenth of `connMaxLifetime`
   * (180,000, 3 min, with the default lifetime). The random numbers come
   * from the clock's `random()`, or `Math.random()` when it has none.
   */
  connMaxLifetimeJitter?: number;
  /**
   * Milliseconds a connection may stay idle before it is closed. 0 means no
   * limit. Default 600,000 (10 min).
   */
  connMaxIdleTime?: number;
  /**
   * Milliseconds between health checks, which ping every idle connection
   * and close those that fail. 0 turns them off. Default 30,000 (30 s).
   */
  healthInterval?: number;
  /**
   * Milliseconds `getConnection` waits for a connection before it rejects
   * with `AcquireTimeoutError`. 0 means no limit. Default 30,000 (30 s).
   */
  acquireTimeout?: number;
  /**
   * The most callers that may wait for a connection once all
   * `maxOpenConns` are open; one more is refused at once with
   * `PoolExhaustedError`. An integer of at least 0. Default unbounded.
   */
  maxWaiting?: number;
  /**
   * The most connections being opened at once, so a pool that starts cold or
   * refills after an outage does not storm the server. An integer of at
   * least 1. Default 4.
   */
  maxConnecting?: number;
  /**
   * Milliseconds a caller may hold a connection before the pool reports it
   * to `onError` as a `"leak"`, once per loan, with the stack of the
   * `getConnection()` call. The connection is not taken back then; but if
   * its handle is garbage-collected without `release()`, the pool takes it
   * back and reports a `ConnectionAbandonedError`. 0 turns both off, and
   * then no stack is captured and no loan is registered for collection,
   * which would cost more than the rest of a hand-off. Default 0 (off).
   */
  leakDetectionThreshold?: number;
  /**
   * Retire every connection (as `pool.reset()`) when a statement fails
   * because the server is read-only, as a primary demoted by a failover is.
   * Off by default, because a write inside a read-only transaction fails the
   * same way. A server shutting down or crashing resets the pool whatever
   * this says. Default false.
   */
  resetOnReadOnly?: boolean;
  /**
   * Clear the session on every release, with the driver's `discard` (for
   * PostgreSQL: what `DISCARD ALL` does, except that prepared statements
   * stay), so settings, temporary tables, cursors, listeners and advisory
   * locks never reach the next user. Costs one round trip per release.
   * Without it, only an open transaction is rolled back. Refused with a
   * driver whose sessions are shared (`postgresDriver` with `pooler`).
   * Default false.
   */
  resetSession?: boolean;
  /**
   * Milliseconds the driver may take to open one connection. 0 means no
   * limit. Default 10,000 (10 s).
   */
  connectTimeout?: number;
  /**
   * Milliseconds one round trip of the pool's own may take: a health-check
   * ping, or the rollback of a connection released mid-transaction. A
   * connection that does not answer in time is closed. 0 means no limit.
   * Default 5,000 (5 s).
   */
  checkTimeout?: number;
  /**
   * Milliseconds a connection may sit idle and still be handed out without a
   * ping. One idle longer is pinged first (bounded by `checkTimeout`); if the
   * ping fails, the connection is closed and the caller gets another one
   * without seeing an error. A connection used more recently than this is
   * trusted, so a busy pool pays nothing. 0 turns validation off. Default
   * 1,000 (1 s), as pgx does; HikariCP uses 500 ms.
   */
  validateAfterIdle?: number;
  /**
   * Milliseconds `close()` waits for connections in use to be released
   * before it closes them under their holders; 0 closes them at once.
   * Default 10,000 (10 s).
   */
  closeTimeout?: number;
  /**
   * Told of failures that belong to no caller (see {@linkcode PoolErrorEvent}).
   * They are counted in the metrics too. An error thrown by the hook is
   * ignored. Default: none.
   */
  onError?: (error: unknown, event: PoolErrorEvent) => void;
  /**
   * The source of time, timers and the random numbers of
   * `connMaxLifetimeJitter`. Default {@linkcode systemClock}.
   */
  clock?: Clock;
}
