/**
 * The pool: lends connections, takes them back, and retires them by its
 * limits. It knows connections only through the {@linkcode Driver} contract.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import {
  type PoolErrorEvent,
  type PoolOptions,
  type ResolvedPoolOptions,
  resolvePoolOptions,
  validateDuration,
} from "./config.ts";
import {
  type ExecuteOptions,
  type Lender,
  LentConnection,
  type PoolConnection,
} from "./connection.ts";
import type { Driver, DriverConnection, QueryResult } from "./driver.ts";
import {
  AcquireTimeoutError,
  ConnectionLeakError,
  ConnectTimeoutError,
  PoolClosedError,
  PoolError,
  PoolExhaustedError,
} from "./errors.ts";
import { type PoolCounters, type PoolMetrics, zeroCounters } from "./metrics.ts";
import {
  beginStatement,
  OpenTransaction,
  type Transaction,
  type TransactionOptions,
} from "./transaction.ts";
import { withDeadline } from "./_deadline.ts";
import { LatencyHistogram } from "./_histogram.ts";
import { LeakDetector } from "./_leak_detector.ts";
import { PooledConnection } from "./_pooled_connection.ts";
import { UtilizationWindow } from "./_utilization.ts";
import { Waiter, WaitQueue } from "./_wait_queue.ts";

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

/** Counters of connections retired by a limit. */
type LimitCounter =
  | "maxIdleClosed"
  | "maxIdleTimeClosed"
  | "maxLifetimeClosed"
  | "connectionsLost"
  | "resetClosed";

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
  readonly #options: ResolvedPoolOptions;
  readonly #driver: Driver;
  readonly #clock: Clock;
  readonly #lender: Lender = { release: (entry) => this.#release(entry) };
  /** Every established connection, whatever its state. */
  readonly #entries = new Set<PooledConnection>();
  /** Idle connections; the most recently released is last and lent first. */
  readonly #idle: PooledConnection[] = [];
  readonly #waiters = new WaitQueue<PoolConnection>();
  /** One per connect, ping or reset in flight; all abort on close. */
  readonly #controllers = new Set<AbortController>();
  /** Background work that close() waits for. These promises never reject. */
  readonly #tasks = new Set<Promise<void>>();
  readonly #counters: PoolCounters = zeroCounters();
  readonly #acquireTimes = new LatencyHistogram();
  readonly #utilization: UtilizationWindow;
  /** Set only when `leakDetectionThreshold` is on. */
  readonly #leaks: LeakDetector | undefined;
  /** Bumped by reset(): connections of an older generation are retired, not reused. */
  #generation = 0;
  #inUse = 0;
  #checking = 0;
  #connecting = 0;
  #healthTimer: TimerHandle | undefined;
  #sweepTimer: TimerHandle | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Set while close() waits for connections in use to come back. */
  #onDrained: (() => void) | undefined;

  /**
   * Creates a pool. No connection opens until the first `getConnection()`.
   *
   * @param options The driver and limits; see {@linkcode PoolOptions}.
   * @throws {TypeError} An unknown option, an option of the wrong type, or no driver.
   * @throws {RangeError} A size or duration out of range, or `maxIdleConns` above `maxOpenConns`.
   */
  constructor(options: PoolOptions) {
    this.#options = resolvePoolOptions(options);
    this.#driver = this.#options.driver;
    this.#clock = this.#options.clock ?? systemClock;
    this.#utilization = new UtilizationWindow(this.#clock.now());
    const threshold = this.#options.leakDetectionThreshold;
    if (threshold > 0) {
      this.#leaks = new LeakDetector(this.#clock, threshold, (entry, origin) => {
        // Release and retire clear the timer first; this only guards against a reordering.
        if (entry.state !== "inUse") return;
        this.#counters.leaksDetected++;
        this.#report(origin, "leak");
      });
    }
    const { healthInterval, connMaxIdleTime, connMaxLifetime } = this.#options;
    if (healthInterval > 0) {
      this.#healthTimer = this.#clock.setInterval(() => this.#checkHealth(), healthInterval);
    }
    const shortestLimit = Math.min(connMaxIdleTime || Infinity, connMaxLifetime || Infinity);
    if (shortestLimit < Infinity) {
      // Often enough that a connection outlives its limit by at most a quarter
      // of it, seldom enough to cost nothing; acquire and release check too.
      const period = Math.min(60_000, Math.max(1_000, shortestLimit / 4));
      this.#sweepTimer = this.#clock.setInterval(() => this.#sweep(), period);
    }
  }

  /**
   * Lends a connection: an idle one if there is one, else a new one while
   * fewer than `maxOpenConns` are open, else the next one released.
   *
   * @param options A timeout in place of `acquireTimeout`, and a signal to give up.
   * @returns A connection to `release()` when done.
   * @throws {PoolClosedError} When the pool is closed, or closes while waiting.
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
    if (this.#closing) {
      return Promise.reject(new PoolClosedError("Cannot get a connection: the pool is closed"));
    }
    let timeout = this.#options.acquireTimeout;
    let signal: AbortSignal | undefined;
    if (options != null) {
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        return Promise.reject(
          new TypeError(
            `Cannot get a connection: signal must be an AbortSignal, got ${typeof signal}`,
          ),
        );
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
      try {
        timeout = validateDuration("Cannot get a connection: timeout", options.timeout, timeout);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const now = this.#clock.now();
    // Created here, so its stack is the caller's; only when leak detection is on.
    const origin = this.#leaks === undefined
      ? undefined
      : new ConnectionLeakError(this.#leaks.threshold);
    const entry = this.#takeIdle(now);
    if (entry !== undefined) {
      this.#acquireTimes.record(0);
      return Promise.resolve(this.#lend(entry, now, origin));
    }
    if (
      this.#waiters.size >= this.#options.maxWaiting &&
      this.#entries.size + this.#connecting >= this.#options.maxOpenConns
    ) {
      this.#counters.acquireRejections++;
      return Promise.reject(new PoolExhaustedError(this.#options.maxWaiting));
    }
    return new Promise((resolve, reject) => {
      const waiter = new Waiter<PoolConnection>(resolve, reject, now, timeout);
      waiter.origin = origin;
      this.#enqueue(waiter, signal);
    });
  }

  /**
   * Runs one statement on a connection of the pool, then releases it.
   *
   * @param text The SQL text, with `$1`, `$2`, ... for parameters.
   * @param params The parameters' values.
   * @param options A signal that ends the wait for a connection or cancels the statement.
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
  async execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    const connection = await this.getConnection(options);
    try {
      return await connection.execute<Row>(text, params, options);
    } finally {
      connection.release();
    }
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
  async beginTx(options?: TransactionOptions): Promise<Transaction> {
    const begin = beginStatement(options);
    const connection = await this.getConnection({ signal: options?.signal });
    try {
      await connection.execute(begin, [], { signal: options?.signal });
    } catch (error) {
      connection.release();
      throw error;
    }
    return new OpenTransaction(connection);
  }

  /**
   * Runs `fn` in a transaction: commits when it returns, rolls back when it
   * throws (and rethrows what it threw).
   *
   * @param fn The work; it may commit or roll back by itself.
   * @param options As for {@linkcode ConnectionPool.beginTx}.
   * @returns What `fn` returned.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * const id = await pool.transaction(async (tx) => {
   *   const { rows } = await tx.execute<{ id: number }>("insert into users (name) values ($1) returning id", ["Ada"]);
   *   return rows[0].id;
   * }, { isolationLevel: "repeatable read" });
   * ```
   */
  async transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options?: TransactionOptions,
  ): Promise<T> {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot run transaction: fn must be a function, got ${typeof fn}`);
    }
    const tx = await this.beginTx(options);
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      if (tx.status === "open") {
        // The caller's error is the one to see; a failed rollback still releases (and closes) the connection.
        await tx.rollback().catch(() => {});
      }
      throw error;
    }
    if (tx.status === "open") await tx.commit();
    return result;
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
    return {
      ...this.#counters,
      maxOpenConnections: this.#options.maxOpenConns,
      openConnections: this.#entries.size + this.#connecting,
      inUse: this.#inUse,
      idle: this.#idle.length,
      connecting: this.#connecting,
      checking: this.#checking,
      waiting: this.#waiters.size,
      acquireTimeP50: this.#acquireTimes.percentile(0.5),
      acquireTimeP99: this.#acquireTimes.percentile(0.99),
      utilization: this.getUtilization(),
    };
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
    return this.#utilization.percent(this.#clock.now());
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
    if (this.#closing) return;
    this.#generation++;
    this.#counters.poolResets++;
    for (const entry of this.#idle.splice(0)) this.#retire(entry, "resetClosed");
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
    this.#closed ??= this.#shutDown();
    return this.#closed;
  }

  /** Closes the pool, as {@linkcode ConnectionPool.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #lend(
    entry: PooledConnection,
    now: number,
    origin: ConnectionLeakError | undefined,
  ): PoolConnection {
    entry.state = "inUse";
    if (origin !== undefined) this.#leaks!.watch(entry, origin);
    this.#inUse++;
    this.#counters.acquireCount++;
    this.#utilization.update(now, this.#inUse, this.#entries.size);
    return new LentConnection(this.#lender, entry);
  }

  #release(entry: PooledConnection): void {
    // A connection close() took from its holder is already gone.
    if (entry.state !== "inUse") return;
    if (entry.leakTimer !== undefined) this.#leaks!.unwatch(entry);
    const now = this.#clock.now();
    this.#inUse--;
    entry.lastUsedAt = now;
    const connection = entry.driverConnection;
    if (connection.closed) this.#retire(entry, "connectionsLost");
    else if (connection.dirty && !this.#closing && entry.generation === this.#generation) {
      this.#resetThenRecycle(entry);
    } else this.#recycle(entry, now);
    this.#utilization.update(now, this.#inUse, this.#entries.size);
    this.#checkDrained();
  }

  /** Hands a usable connection to the oldest waiter, or keeps it idle, or retires it. */
  #recycle(entry: PooledConnection, now: number): void {
    if (this.#closing) return this.#retire(entry);
    if (entry.driverConnection.closed) return this.#retire(entry, "connectionsLost");
    if (entry.generation !== this.#generation) return this.#retire(entry, "resetClosed");
    if (now >= entry.expiresAt) return this.#retire(entry, "maxLifetimeClosed");
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#endWait(waiter, now);
      this.#acquireTimes.record(now - waiter.since);
      waiter.resolve(this.#lend(entry, now, waiter.origin));
    } else if (this.#idle.length >= this.#options.maxIdleConns) {
      this.#retire(entry, "maxIdleClosed");
    } else {
      entry.state = "idle";
      this.#idle.push(entry);
    }
  }

  #takeIdle(now: number): PooledConnection | undefined {
    let entry: PooledConnection | undefined;
    while ((entry = this.#idle.pop()) !== undefined) {
      const limit = this.#expiry(entry, now);
      if (limit === undefined) return entry;
      this.#retire(entry, limit);
    }
    return undefined;
  }

  /** The limit an idle connection has reached, if any. */
  #expiry(entry: PooledConnection, now: number): LimitCounter | undefined {
    if (entry.driverConnection.closed) return "connectionsLost";
    if (now >= entry.expiresAt) return "maxLifetimeClosed";
    const maxIdleTime = this.#options.connMaxIdleTime;
    if (maxIdleTime > 0 && now - entry.lastUsedAt >= maxIdleTime) return "maxIdleTimeClosed";
    return undefined;
  }

  #enqueue(waiter: Waiter<PoolConnection>, signal: AbortSignal | undefined): void {
    this.#waiters.push(waiter);
    this.#counters.waitCount++;
    if (waiter.timeout > 0) {
      waiter.timer = this.#clock.setTimeout(
        () => this.#giveUp(waiter, new AcquireTimeoutError(waiter.timeout)),
        waiter.timeout,
      );
    }
    if (signal !== undefined) {
      waiter.signal = signal;
      waiter.onAbort = () => this.#giveUp(waiter, signal.reason);
      signal.addEventListener("abort", waiter.onAbort);
    }
    this.#openForWaiters();
  }

  #giveUp(waiter: Waiter<PoolConnection>, reason: unknown): void {
    if (!waiter.queued) return;
    this.#waiters.remove(waiter);
    this.#endWait(waiter, this.#clock.now());
    if (reason instanceof AcquireTimeoutError) this.#counters.acquireTimeouts++;
    waiter.reject(reason);
  }

  /** Stops a waiter's timer and abort listener, and counts its wait. */
  #endWait(waiter: Waiter<PoolConnection>, now: number): void {
    if (waiter.timer !== undefined) this.#clock.clearTimeout(waiter.timer);
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener("abort", waiter.onAbort);
    this.#counters.waitDuration += now - waiter.since;
  }

  /** Opens connections for waiters that no connect in flight will serve. */
  #openForWaiters(): void {
    while (
      !this.#closing && this.#waiters.size > this.#connecting &&
      this.#entries.size + this.#connecting < this.#options.maxOpenConns
    ) this.#connect();
  }

  #connect(): void {
    this.#connecting++;
    const generation = this.#generation;
    const timeout = this.#options.connectTimeout;
    const attempt = withDeadline(
      this.#clock,
      timeout,
      () => new ConnectTimeoutError(timeout),
      this.#controllers,
      (signal) => this.#driver.connect(signal),
      (late) => this.#closeQuietly(late),
    );
    this.#track(attempt.then(
      (connection) => this.#connected(connection, generation),
      (error) => this.#connectFailed(error),
    ));
  }

  #connected(connection: DriverConnection, generation: number): void {
    this.#connecting--;
    if (this.#closing) return this.#closeQuietly(connection);
    const now = this.#clock.now();
    const { connMaxLifetime, connMaxLifetimeJitter } = this.#options;
    let expiresAt = Infinity;
    if (connMaxLifetime > 0) {
      // Spread: connections opened together must not all expire together.
      const random = connMaxLifetimeJitter > 0 ? this.#clock.random?.() ?? Math.random() : 0;
      expiresAt = now + connMaxLifetime - connMaxLifetimeJitter * random;
    }
    const entry = new PooledConnection(connection, expiresAt, now, generation);
    this.#entries.add(entry);
    this.#counters.connectionsCreated++;
    connection.onClose((error) => this.#lost(entry, error));
    this.#recycle(entry, now);
    this.#utilization.update(now, this.#inUse, this.#entries.size);
  }

  #connectFailed(error: unknown): void {
    this.#connecting--;
    if (this.#closing) return;
    this.#counters.connectErrors++;
    // The oldest waiter learns why at once rather than at its timeout; each
    // failure fails one waiter, so a server that is down gets no retry storm.
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return this.#report(error, "connect");
    this.#endWait(waiter, this.#clock.now());
    waiter.reject(error);
    this.#openForWaiters();
  }

  /** Called by the driver when a connection closes, whoever closed it. */
  #lost(entry: PooledConnection, error: unknown): void {
    // In use or checking: its holder, or the check, finds out and retires it.
    if (entry.state !== "idle") return;
    this.#idle.splice(this.#idle.indexOf(entry), 1);
    this.#retire(entry, "connectionsLost");
    this.#report(
      error ?? new PoolError("CONNECTION_LOST", "An idle connection closed on its own"),
      "connectionLost",
    );
  }

  #resetThenRecycle(entry: PooledConnection): void {
    entry.state = "checking";
    this.#checking++;
    const timeout = this.#options.checkTimeout;
    const reset = this.#bounded(
      timeout,
      `Cannot reset connection: no answer within ${timeout} ms`,
      (signal) => entry.driverConnection.reset(signal),
    );
    this.#track(reset.then(
      () => {
        if (entry.state === "closed") return; // close() took it past its grace period.
        this.#checking--;
        this.#recycle(entry, this.#clock.now());
        this.#checkDrained();
      },
      (error) => {
        if (entry.state === "closed") return;
        this.#checking--;
        if (!this.#closing) this.#report(error, "reset");
        // A reset that close() aborted lost nothing: the pool is closing the connection itself.
        this.#retire(entry, this.#closing ? undefined : "connectionsLost");
        this.#checkDrained();
      },
    ));
  }

  /** Pings idle connections unused since the last check, without blocking getConnection(). */
  #checkHealth(): void {
    const now = this.#clock.now();
    const unusedSince = now - this.#options.healthInterval;
    const timeout = this.#options.checkTimeout;
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const entry = this.#idle[i];
      // A connection used since the last check proved itself then.
      if (entry.lastUsedAt > unusedSince) continue;
      this.#idle.splice(i, 1);
      const limit = this.#expiry(entry, now);
      if (limit !== undefined) {
        this.#retire(entry, limit);
        continue;
      }
      entry.state = "checking";
      this.#checking++;
      const ping = this.#bounded(
        timeout,
        `Health check failed: no answer within ${timeout} ms`,
        (signal) => entry.driverConnection.ping(signal),
      );
      this.#track(ping.then(
        () => {
          if (entry.state === "closed") return; // close() took it past its grace period.
          this.#checking--;
          const end = this.#clock.now();
          this.#counters.healthChecksPassed++;
          this.#counters.healthCheckDuration += end - now;
          this.#recycle(entry, end);
          this.#checkDrained();
        },
        (error) => {
          if (entry.state === "closed") return;
          this.#checking--;
          if (!this.#closing) {
            this.#counters.healthChecksFailed++;
            this.#counters.healthCheckDuration += this.#clock.now() - now;
            this.#report(error, "healthCheck");
          }
          this.#retire(entry);
          this.#checkDrained();
        },
      ));
    }
  }

  /** Retires idle connections past their limits. */
  #sweep(): void {
    const now = this.#clock.now();
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const limit = this.#expiry(this.#idle[i], now);
      if (limit === undefined) continue;
      const [entry] = this.#idle.splice(i, 1);
      this.#retire(entry, limit);
    }
  }

  /** Closes a connection that is no longer in the idle set or lent out. */
  #retire(entry: PooledConnection, counter?: LimitCounter): void {
    entry.state = "closed";
    if (entry.leakTimer !== undefined) this.#leaks!.unwatch(entry);
    this.#entries.delete(entry);
    if (counter !== undefined) this.#counters[counter]++;
    this.#closeQuietly(entry.driverConnection);
    this.#utilization.update(this.#clock.now(), this.#inUse, this.#entries.size);
    this.#openForWaiters();
  }

  #closeQuietly(connection: DriverConnection): void {
    this.#track(connection.close().catch((error) => this.#report(error, "close")));
  }

  #bounded(
    ms: number,
    timeoutMessage: string,
    operation: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    return withDeadline(
      this.#clock,
      ms,
      () => new PoolError("CHECK_TIMEOUT", timeoutMessage),
      this.#controllers,
      operation,
    );
  }

  #track(task: Promise<void>): void {
    const tracked: Promise<void> = task.then(
      () => void this.#tasks.delete(tracked),
      (error) => {
        this.#tasks.delete(tracked);
        // Unreachable: every tracked task handles its own failure.
        this.#report(new Error("Bug: a pool task failed", { cause: error }), "close");
      },
    );
    this.#tasks.add(tracked);
  }

  #report(error: unknown, event: PoolErrorEvent): void {
    try {
      this.#options.onError?.(error, event);
    } catch {
      // The hook's own failure has nowhere else to go.
    }
  }

  #checkDrained(): void {
    if (this.#onDrained !== undefined && this.#inUse + this.#checking === 0) this.#onDrained();
  }

  async #shutDown(): Promise<void> {
    this.#closing = true;
    if (this.#healthTimer !== undefined) this.#clock.clearInterval(this.#healthTimer);
    if (this.#sweepTimer !== undefined) this.#clock.clearInterval(this.#sweepTimer);
    for (let waiter; (waiter = this.#waiters.shift()) !== undefined;) {
      this.#endWait(waiter, this.#clock.now());
      waiter.reject(new PoolClosedError("Cannot get a connection: the pool closed while waiting"));
    }
    for (const controller of this.#controllers) {
      controller.abort(new PoolClosedError("Cannot finish: the pool is closing"));
    }
    for (const entry of this.#idle.splice(0)) this.#retire(entry);
    if (this.#inUse + this.#checking > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(resolve, this.#options.closeTimeout);
        this.#onDrained = () => {
          this.#clock.clearTimeout(timer);
          resolve();
        };
      });
      this.#onDrained = undefined;
      // Past the grace period: close what holders still have. Their release() is then a no-op.
      for (const entry of this.#entries) {
        if (entry.state === "inUse") this.#inUse--;
        else if (entry.state === "checking") this.#checking--;
        this.#retire(entry);
      }
    }
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }
}
