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
  /**
   * Opens the connections: `postgresDriver(url or options)`, `bunDriver(...)`
   * from `@x/pool/bun`, or your own {@linkcode Driver}. Required.
   */
  driver: Driver;
  /**
   * The pool's name, a non-empty string, as `pool.name`; the `pool` label of
   * its metrics served by `metricsHandler`.
   *
   * @default {"default"}
   */
  name?: string;
  /**
   * The most connections open at once, counting those being opened. An
   * integer of at least 1.
   *
   * @default {10}
   */
  maxOpenConns?: number;
  /**
   * The most connections kept idle; one released beyond that is closed. An
   * integer from 0 to `maxOpenConns`.
   *
   * @default {maxOpenConns}
   */
  maxIdleConns?: number;
  /**
   * The fewest connections kept idle: the pool opens them in the background
   * from its creation on, and again whenever one closes or is lent, within
   * `maxOpenConns`, `maxConnecting` and the connect backoff; `connMaxIdleTime`
   * never retires one below it. `pool.ready()` waits for them. An integer
   * from 0 to `maxIdleConns`; 0 opens connections only on demand.
   *
   * @default {0}
   */
  minIdleConns?: number;
  /**
   * Milliseconds after which a connection is retired: closed when idle, or
   * on release when in use. 0 means no limit.
   *
   * @default {1_800_000} 30 minutes
   */
  connMaxLifetime?: number;
  /**
   * Milliseconds up to which each connection's lifetime is shortened at
   * random, so connections opened together do not expire together. From 0
   * (off) to `connMaxLifetime`.
   *
   * The random numbers come from the clock's `random()`, or `Math.random()`
   * when it has none.
   *
   * @default {connMaxLifetime / 10} 3 minutes with the default lifetime
   */
  connMaxLifetimeJitter?: number;
  /**
   * Milliseconds a connection may stay idle before it is closed. 0 means no
   * limit.
   *
   * @default {600_000} 10 minutes
   */
  connMaxIdleTime?: number;
  /**
   * Milliseconds between health checks, which ping the idle connections not
   * used since the last check and close those that fail. 0 turns them off.
   *
   * @default {30_000} 30 seconds
   */
  healthInterval?: number;
  /**
   * Milliseconds `getConnection` waits for a connection before it rejects
   * with `AcquireTimeoutError`. 0 means no limit.
   *
   * @default {30_000} 30 seconds
   */
  acquireTimeout?: number;
  /**
   * The most callers that may wait for a connection once all `maxOpenConns`
   * are open; one more is refused at once with `PoolExhaustedError`. An
   * integer of at least 0.
   *
   * @default {Infinity} unbounded
   */
  maxWaiting?: number;
  /**
   * The most connections being opened at once, so a pool that starts cold or
   * refills after an outage does not storm the server. An integer of at
   * least 1.
   *
   * @default {4}
   */
  maxConnecting?: number;
  /**
   * The most single statements `pool.execute` may have in flight on one
   * connection at once (pipelining), once every connection is busy and no
   * more may open. Only autocommit statements the driver deems safe share a
   * connection, never one lent by `getConnection`, `beginTx` or
   * `transaction`; see `docs/pipelining.md`. An integer of at least 0; 0
   * turns pipelining off.
   *
   * @default {10}
   */
  maxPipeline?: number;
  /**
   * Connects failing in a row with no connection open that open the circuit
   * breaker: callers are then refused at once with `CircuitOpenError`
   * (waiting ones too) rather than waiting out `acquireTimeout`, while one
   * probe connect at a time, on the backoff, checks whether the server is
   * back; the first that succeeds closes it. An integer of at least 0; 0
   * turns the breaker off.
   *
   * @default {5}
   */
  breakerThreshold?: number;
  /**
   * Milliseconds a caller may hold a connection before the pool reports it
   * to `onError` as a `"leak"`, once per loan, with the stack of its
   * `getConnection()` call. 0 turns leak detection off.
   *
   * The connection is not taken back then; but if its handle is
   * garbage-collected without `release()`, the pool takes it back and
   * reports a `ConnectionAbandonedError`. With 0, neither happens: no stack
   * is captured and no loan is registered for collection, which would cost
   * more than the rest of a hand-off.
   *
   * @default {0} off
   */
  leakDetectionThreshold?: number;
  /**
   * Retire every connection (as `pool.reset()`) when a statement fails
   * because the server is read-only, as a primary demoted by a failover is.
   *
   * Off by default, because a write inside a read-only transaction fails the
   * same way. A server shutting down or crashing resets the pool whatever
   * this says.
   *
   * @default {false}
   */
  resetOnReadOnly?: boolean;
  /**
   * When to clear the session on release (settings, temporary tables,
   * cursors, listeners, advisory locks, SQL `PREPARE`d statements), at one
   * round trip: `"auto"` after a borrower changed it, `true` always, `false`
   * never. Off behind a transaction pooler, which refuses `true` and `"auto"`.
   *
   * `"auto"` watches each statement's text and command tag for `SET`,
   * `RESET`, `set_config(..., false)`, `LISTEN`, `DECLARE ... WITH HOLD`,
   * `PREPARE`, `CREATE TEMP`, session advisory locks and the like (see
   * docs/behaviour.md); after ordinary statements release sends nothing. The
   * reset calls the driver's `discard` (for PostgreSQL: what `DISCARD ALL`
   * does, except that the prepared statements the driver caches stay);
   * without it, only an open transaction is rolled back. With a driver whose
   * sessions are shared (either shipped driver with `pooler: "transaction"`)
   * the default is `false`.
   *
   * @default {"auto"}
   */
  resetSession?: boolean | "auto";
  /**
   * Milliseconds the driver may take to open one connection. 0 means no
   * limit.
   *
   * @default {10_000} 10 seconds
   */
  connectTimeout?: number;
  /**
   * Milliseconds one round trip of the pool's own may take: a health-check or
   * validation ping, or the rollback of a connection released
   * mid-transaction. A connection that does not answer in time is closed. 0
   * means no limit.
   *
   * @default {5_000} 5 seconds
   */
  checkTimeout?: number;
  /**
   * Milliseconds a connection may sit idle and still be handed out without a
   * ping; one idle longer is pinged first and, if the ping fails, closed, and
   * the caller gets another. 0 turns validation off.
   *
   * The ping is bounded by `checkTimeout`, and the caller sees no error. A
   * connection used more recently than this is trusted, so a busy pool pays
   * nothing. The default is pgx's; HikariCP uses 500 ms.
   *
   * @default {1_000} 1 second
   */
  validateAfterIdle?: number;
  /**
   * Milliseconds `close()` waits for connections in use to be released
   * before it closes them under their holders; 0 closes them at once.
   *
   * @default {10_000} 10 seconds
   */
  closeTimeout?: number;
  /**
   * Told of failures that belong to no caller: `connect`, `healthCheck`,
   * `validation`, `reset`, `connectionLost`, `close`, `failover`, `leak`,
   * `observer`, `circuit` (see {@linkcode PoolErrorEvent}).
   *
   * They are counted in the metrics too. An error thrown by the hook is
   * ignored.
   *
   * @default {undefined} no hook: the failures are only counted
   */
  onError?: (error: unknown, event: PoolErrorEvent) => void;
  /**
   * The source of time, timers and the random numbers of
   * `connMaxLifetimeJitter`; tests pass a manual clock.
   *
   * @default {undefined} the pool uses {@linkcode systemClock}: `performance.now()`, the global
   * timers and `Math.random()`
   */
  clock?: Clock;
}
