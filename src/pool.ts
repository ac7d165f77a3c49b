/**
 * The pool: lends connections, takes them back, and retires them by its
 * limits. It knows connections only through the {@linkcode Driver} contract.
 *
 * @module
 */

import { systemClock } from "./clock.ts";
import type { PoolOptions } from "./config.ts";
import type { ExecuteOptions, PoolConnection } from "./connection.ts";
import type { QueryResult } from "./driver.ts";
import { ConnectionLeakError, PoolClosedError } from "./errors.ts";
import type { AcquireTimeHistogram, PoolMetrics } from "./pool_metrics.ts";
import type { PoolObserver } from "./observer.ts";
import type { SqlResult } from "./sql.ts";
import type { Transaction, TransactionOptions } from "./transaction.ts";
import { PoolCore } from "./_core/core.ts";
import { checkSignal, resolvePoolOptions, validateDuration } from "./_core/options.ts";
import { startMaintenance } from "./_core/maintenance.ts";
import { runTemplate } from "./_core/sql_template.ts";
import { acquireHistogram } from "./_core/histogram.ts";
import { register } from "./_core/observers.ts";
import { beginTransaction, runTransaction } from "./_core/pool_transactions.ts";
import { metricsSnapshot, utilizationNow } from "./_core/metrics_snapshot.ts";
import { attachCore } from "./_core/pool_cores.ts";
import { executeStatement, type GetConnection } from "./_core/execute.ts";
import { whenReady } from "./_core/readiness.ts";

/**
 * Options for one `getConnection()` call.
 *
 * @example
 * ```ts
 * import type { AcquireOptions } from "@x/pool";
 *
 * const options: AcquireOptions = { timeout: 1_000, signal: AbortSignal.timeout(5_000) };
 * ```
 */
export interface AcquireOptions {
  /** Gives up waiting when it aborts, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds to wait for a connection, instead of `acquireTimeout`. 0 means no limit. */
  timeout?: number;
}

/**
 * A pool of database connections: opened lazily up to `maxOpenConns`,
 * reused while idle, retired by their lifetime and idle-time limits, checked
 * on a timer, and counted in {@linkcode PoolMetrics}.
 *
 * Callers wait in arrival order when every connection is in use. A released
 * connection goes straight to the oldest waiter. A caller that stops waiting
 * (timeout or abort) is never handed a connection later; a connection opened
 * for it goes to the next waiter or joins the idle set.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 *
 * await using pool = new ConnectionPool({
 *   driver: postgresDriver(Deno.env.get("DATABASE_URL")!),
 *   maxOpenConns: 25,
 * });
 * const { rows } = await pool.execute("select $1::int as n", [1]);
 * await pool.transaction(async (tx) => {
 *   await tx.execute("insert into users (name) values ($1)", ["John"]);
 * });
 * console.log(rows, pool.getMetrics().openConnections);
 * ```
 */
export class ConnectionPool implements AsyncDisposable {
  readonly #core: PoolCore;
  readonly #stopMaintenance: () => void;
  #closed: Promise<void> | undefined;
  readonly #getConnection: GetConnection = (options) => this.getConnection(options);

  /**
   * Creates a pool. No connection opens until the first `getConnection()`,
   * unless `minIdleConns` asks for some: those open in the background.
   *
   * @param options The driver and limits; see {@linkcode PoolOptions}.
   * @throws {TypeError} An unknown option, an option of the wrong type, or no driver.
   * @throws {RangeError} A size or duration out of range, or `maxIdleConns` above `maxOpenConns`.
   */
  constructor(options: PoolOptions) {
    const resolved = resolvePoolOptions(options);
    this.#core = new PoolCore(resolved, resolved.clock ?? systemClock);
    attachCore(this, this.#core);
    this.#stopMaintenance = startMaintenance(this.#core);
  }

  /**
   * The pool's `name` option, `"default"` unless given; it labels the pool's
   * metrics.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!), name: "orders" });
   * console.log(pool.name); // "orders"
   * ```
   */
  get name(): string {
    return this.#core.options.name;
  }

  /**
   * Lends a connection: an idle one if there is one, else a new one while
   * fewer than `maxOpenConns` are open, else the next one released.
   *
   * @param options A timeout in place of `acquireTimeout`, and a signal to give up.
   * @returns A connection to `release()` when done.
   * @throws {PoolClosedError} When the pool is closed, or closes while waiting.
   * @throws {CircuitOpenError} At once, while the circuit breaker is open
   *   (see `breakerThreshold`), and when it opens while waiting.
   * @throws {AcquireTimeoutError} When none became free in time.
   * @throws {PoolExhaustedError} At once, when every connection is open and
   * `maxWaiting` callers already wait.
   * @throws {RangeError} An invalid `timeout`.
   * @throws {TypeError} A `timeout` that is not a number, or a `signal` that is not an AbortSignal.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * await using conn = await pool.getConnection({ timeout: 1_000 });
   * await conn.execute("select 1");
   * ```
   */
  getConnection(options?: AcquireOptions): Promise<PoolConnection> {
    if (this.#core.closing) {
      return Promise.reject(new PoolClosedError("Cannot get a connection: the pool is closed"));
    }
    let timeout = this.#core.options.acquireTimeout;
    let signal: AbortSignal | undefined;
    if (options != null) {
      signal = options.signal;
      try {
        checkSignal("Cannot get a connection", signal);
        if (signal?.aborted) return Promise.reject(signal.reason);
        timeout = validateDuration("Cannot get a connection: timeout", options.timeout, timeout);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const leaks = this.#core.leaks;
    // Made here, in the caller's own frame (Bun's tail calls would drop it below).
    const origin = leaks === undefined ? undefined : new ConnectionLeakError(leaks.threshold);
    return this.#core.acquire(timeout, signal, origin);
  }

  /**
   * Waits until `max(1, minIdleConns)` connections are open, opening them
   * if need be: the fail-fast start of a server before it takes traffic.
   *
   * @param options A timeout in place of `acquireTimeout` (0: none), and a signal to give up.
   * @throws {PoolNotReadyError} When a connect failed for good (a wrong
   *   password), the circuit breaker opened or was open, or the timeout ran
   *   out; its `cause` is the last connect failure.
   * @throws {PoolClosedError} When the pool is closed, or closes while waiting.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!), minIdleConns: 4 });
   * await pool.ready({ timeout: 10_000 }); // 4 connections open, or it throws
   * ```
   */
  ready(options?: AcquireOptions): Promise<void> {
    return whenReady(this.#core, options);
  }

  /**
   * Runs one statement on a connection of the pool, then releases it. A
   * statement whose connection turned out dead before it was sent is retried
   * on another connection, up to 3 times; with `idempotent`, so is one whose
   * connection died while it ran. An error the server answered is never
   * retried. See docs/behaviour.md, "Retries".
   *
   * @param text The SQL text, with `$1`, `$2`, ... for parameters.
   * @param params The parameters' values.
   * @param options A signal that ends the wait for a connection or cancels the
   * statement, a `timeout` for the statement alone, and `idempotent`.
   * @returns The rows, the row count and the command tag.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const { rowCount } = await pool.execute("insert into users (name) values ($1)", ["John"]);
   * ```
   */
  execute<Row = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return executeStatement(this.#core, this.#getConnection, text, params, options);
  }

  /**
   * Runs a tagged template as one statement, through {@linkcode ConnectionPool.execute}
   * (so it may be pipelined): each `${value}` becomes a parameter, each
   * fragment from `sql` is spliced in; see `docs/sql.md`.
   *
   * @returns The rows, carrying `rowCount` and `command`.
   * @throws {TypeError} A value refused as by `sql`, or a call that is not a tagged template.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const id = 1;
   * const [user] = await pool.sql<{ name: string }>`select name from users where id = ${id}`;
   * ```
   */
  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>> {
    return runTemplate((text, params) => this.execute<Row>(text, params), strings, values);
  }

  /**
   * Starts a transaction on a connection of the pool.
   *
   * @param options The isolation level, read-only and deferrable modes, and a signal.
   * @returns The open transaction; `commit()` or `rollback()` releases its connection.
   * @throws {RangeError} An unknown isolation level.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const tx = await pool.beginTx({ isolationLevel: "serializable", readOnly: true });
   * try {
   *   await tx.execute("select count(*) from users");
   *   await tx.commit();
   * } catch (error) {
   *   if (tx.status === "open") await tx.rollback();
   *   throw error;
   * }
   * ```
   */
  beginTx(options?: TransactionOptions): Promise<Transaction> {
    return beginTransaction(this.#getConnection, options);
  }

  /**
   * Runs `fn` in a transaction: commits when it returns, rolls back when it
   * throws (and rethrows what it threw). With `retries`, runs `fn` again on
   * a new transaction, after a jittered backoff, when the server rolled it
   * back for a serialization failure (40001) or a deadlock (40P01), or its
   * connection died before `COMMIT` was sent; `fn` must then be safe to run
   * more than once. See docs/behaviour.md, "Retries".
   *
   * @param fn The work; it may commit or roll back by itself.
   * @param options As for {@linkcode ConnectionPool.beginTx}, and `retries`.
   * @returns What `fn` returned.
   * @throws {RangeError} A `retries` that is not a non-negative integer.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const id = await pool.transaction(async (tx) => {
   *   const { rows } = await tx.execute<{ id: number }>("insert into users (name) values ($1) returning id", ["Ada"]);
   *   return rows[0].id;
   * }, { isolationLevel: "serializable", retries: 3 });
   * ```
   */
  transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options?: TransactionOptions,
  ): Promise<T> {
    return runTransaction(this.#core, this.#getConnection, fn, options);
  }

  /**
   * A snapshot of the pool's connections, counters and timings. Cheap: no
   * round trip, a few dozen arithmetic operations.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const { openConnections, inUse, waitCount, acquireTimeP99 } = pool.getMetrics();
   * ```
   */
  getMetrics(): PoolMetrics {
    return metricsSnapshot(this.#core);
  }

  /**
   * Registers `observer` to be told of each acquisition's wait, each loan's
   * use time and each connect's duration as they happen (see
   * {@linkcode PoolObserver}). Observers cost nothing while none is
   * registered; each one is called synchronously on the hand-off path.
   *
   * @param observer The callbacks; any of them may be left out.
   * @returns A function that unregisters `observer`; calling it again does nothing.
   * @throws {TypeError} When `observer` is not an object, or one of its
   *   callbacks is present but not a function.
   *
   * @example Feeding a histogram of use times
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const useTimes: number[] = [];
   * const stop = pool.observe({ released: (useMs) => useTimes.push(useMs) });
   * await pool.execute("select 1");
   * stop();
   * console.log(useTimes.length); // 1
   * ```
   */
  observe(observer: PoolObserver): () => void {
    return register(this.#core.observers, observer);
  }

  /**
   * The acquire times over the pool's life, in milliseconds, as cumulative
   * counts at the bounds 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1,000, 5,000 and
   * `Infinity`, with their sum and count: a Prometheus histogram. Costs one
   * pass over the internal buckets; recording costs nothing more.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const { buckets, count } = pool.getAcquireHistogram();
   * const within10ms = buckets.find((bucket) => bucket.le === 10)!.count;
   * console.log(`${within10ms} of ${count} acquisitions took at most 10 ms`);
   * ```
   */
  getAcquireHistogram(): AcquireTimeHistogram {
    return acquireHistogram(this.#core.acquireTimes);
  }

  /**
   * The share of open-connection time spent in use over the last 10 s (in
   * 1 s steps), from 0 to 100. Connections being opened do not count as open.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * if (pool.getUtilization() > 90) console.warn("pool nearly saturated");
   * ```
   */
  getUtilization(): number {
    return utilizationNow(this.#core);
  }

  /**
   * Retires every connection without waiting: idle ones are closed at once;
   * those in use, being checked, or being opened are closed when they come
   * back or finish opening, instead of being reused. Later calls get new
   * connections. Use it when every connection is suspect, say after a
   * database failover. Counted in `poolResets` and `resetClosed`. Does
   * nothing on a closed pool.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * pool.reset();
   * await pool.execute("select 1"); // on a new connection
   * ```
   */
  reset(): void {
    this.#core.reset();
  }

  /**
   * Closes the pool: refuses new calls and fails waiting callers with
   * {@linkcode PoolClosedError}, waits up to `closeTimeout` for connections
   * in use to be released, then closes every connection and stops every
   * timer. Calling it again returns the same promise.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * await pool.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#stopMaintenance();
      this.#closed = this.#core.shutDown();
    }
    return this.#closed;
  }

  /** Closes the pool, as {@linkcode ConnectionPool.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
