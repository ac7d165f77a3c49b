import type { Clock, TimerHandle } from "../clock.ts";
import type { PoolConnection } from "../connection.ts";
import type { DriverConnection } from "../driver.ts";
import {
  AcquireTimeoutError,
  ConnectionAbandonedError,
  type ConnectionLeakError,
  ConnectTimeoutError,
  PoolClosedError,
  PoolError,
  PoolExhaustedError,
} from "../errors.ts";
import { type PoolCounters, zeroCounters } from "../pool_metrics.ts";
import type { PoolObserver } from "../observer.ts";
import { BackgroundWork } from "./background.ts";
import { LatencyHistogram } from "./histogram.ts";
import { LeakDetector } from "./leak_detector.ts";
import { type Lender, LentConnection } from "./lent_connection.ts";
import type { ResolvedPoolOptions } from "./options.ts";
import { resetThenRecycle, validateIdle } from "./maintenance.ts";
import { PoolEntry } from "./entry.ts";
import { UtilizationWindow } from "./utilization.ts";
import { Waiter, WaitQueue } from "./wait_queue.ts";

/** The first retry after a failed connect, in milliseconds; it doubles with each failure. */
const RETRY_BASE_MS = 100;
/** The longest wait between connect attempts while the server is unreachable. */
const RETRY_MAX_MS = 5_000;

/** Counters of connections retired by a limit. */
export type LimitCounter =
  | "maxIdleClosed"
  | "maxIdleTimeClosed"
  | "maxLifetimeClosed"
  | "connectionsLost"
  | "resetClosed";

/**
 * The pool's mechanics: which connection is where, lending and taking back,
 * waiting in line, opening and retiring. `ConnectionPool` is its public face
 * and `_maintenance.ts` its timers; both reach its fields directly, so every
 * count changes in one place, synchronously with the state it counts.
 */
export class PoolCore {
  readonly options: ResolvedPoolOptions;
  readonly clock: Clock;
  readonly background: BackgroundWork;
  /** Every established connection, whatever its state. */
  readonly entries = new Set<PoolEntry>();
  /** Idle connections; the most recently released is last and lent first. */
  readonly idle: PoolEntry[] = [];
  readonly waiters = new WaitQueue<PoolConnection>();
  readonly counters: PoolCounters = zeroCounters();
  readonly acquireTimes = new LatencyHistogram();
  /** Told of each timing as it happens; usually none, so every hand-off checks the length first. */
  readonly observers: PoolObserver[] = [];
  readonly utilization: UtilizationWindow;
  /** Set only when `leakDetectionThreshold` is on. */
  readonly leaks: LeakDetector | undefined;
  /** Bumped by reset(): connections of an older generation are retired, not reused. */
  generation = 0;
  inUse = 0;
  /** Connections busy with a ping (health check or validation) or a reset after release. */
  checking = 0;
  connecting = 0;
  /** Connections being pinged before hand-out: like connects, each will serve a waiter. */
  validating = 0;
  closing = false;
  readonly #lender: Lender;
  /** Connect failures since the last success: the exponent of the backoff. */
  #connectFailures = 0;
  /** Set while connects back off after a failure; fires the next attempt. */
  #retryTimer: TimerHandle | undefined;
  #lastConnectError: unknown;
  #lastConnectErrorAt = -Infinity;
  /**
   * One timer for every waiter's acquire timeout, armed for the earliest
   * deadline: a timer per waiter would cost more than the rest of a hand-off.
   */
  #deadlineTimer: TimerHandle | undefined;
  #deadlineAt = Infinity;
  /** Set while shutDown() waits for connections in use to come back. */
  #onDrained: (() => void) | undefined;

  constructor(options: ResolvedPoolOptions, clock: Clock) {
    this.options = options;
    this.clock = clock;
    this.background = new BackgroundWork(clock, options.onError);
    this.#lender = {
      release: (entry) => this.release(entry),
      clock,
      noteError: options.driver.classifyError === undefined
        ? undefined
        : (entry, error) => this.noteError(entry.generation, error),
    };
    this.utilization = new UtilizationWindow(clock.now());
    const threshold = options.leakDetectionThreshold;
    if (threshold > 0) {
      this.leaks = new LeakDetector(
        clock,
        threshold,
        (entry, origin) => {
          // Release and retire clear the timer first; this only guards against a reordering.
          if (entry.state !== "inUse") return;
          this.counters.leaksDetected++;
          this.background.report(origin, "leak");
        },
        (entry, origin) => {
          // Its handle is gone, so nobody can use it again: take it back.
          this.counters.leaksReclaimed++;
          this.background.report(new ConnectionAbandonedError({ cause: origin }), "leak");
          this.release(entry);
        },
      );
    }
  }

  /**
   * Lends a connection, or queues the caller; arguments are already checked.
   * `origin` is set only when leak detection is on.
   */
  acquire(
    timeout: number,
    signal: AbortSignal | undefined,
    origin: ConnectionLeakError | undefined,
  ): Promise<PoolConnection> {
    const now = this.clock.now();
    const entry = this.#takeIdle(now);
    if (entry !== undefined) return Promise.resolve(this.#lend(entry, now, 0, origin));
    const { maxWaiting, maxOpenConns } = this.options;
    // A connection being validated will serve a waiter, like one being opened.
    if (
      this.waiters.size >= maxWaiting + this.validating &&
      this.entries.size + this.connecting >= maxOpenConns
    ) {
      this.counters.acquireRejections++;
      return Promise.reject(new PoolExhaustedError(maxWaiting));
    }
    return new Promise((resolve, reject) => {
      const waiter = new Waiter<PoolConnection>(resolve, reject, now, timeout);
      waiter.origin = origin;
      this.#enqueue(waiter, signal);
    });
  }

  /** Takes back a lent connection: reuses it, resets it, or retires it. */
  release(entry: PoolEntry): void {
    // A connection shutDown() took from its holder is already gone.
    if (entry.state !== "inUse") return;
    this.leaks?.unwatch(entry);
    const now = this.clock.now();
    this.inUse--;
    entry.lastUsedAt = entry.provenAt = now;
    if (this.observers.length !== 0) this.#notify("released", now - entry.lentAt);
    const connection = entry.driverConnection;
    if (connection.closed) this.retire(entry, "connectionsLost");
    else if (
      (connection.dirty || this.options.resetSession) && !this.closing &&
      entry.generation === this.generation
    ) {
      resetThenRecycle(this, entry);
    } else this.recycle(entry, now);
    this.utilization.update(now, this.inUse, this.entries.size);
    this.checkDrained();
  }

  /** Hands a usable connection to the oldest waiter, or keeps it idle, or retires it. */
  recycle(entry: PoolEntry, now: number): void {
    if (this.closing) return this.retire(entry);
    if (entry.driverConnection.closed) return this.retire(entry, "connectionsLost");
    if (entry.generation !== this.generation) return this.retire(entry, "resetClosed");
    if (now >= entry.expiresAt) return this.retire(entry, "maxLifetimeClosed");
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.#endWait(waiter, now);
      waiter.resolve(this.#lend(entry, now, now - waiter.since, waiter.origin));
    } else if (this.idle.length >= this.options.maxIdleConns) {
      this.retire(entry, "maxIdleClosed");
    } else {
      entry.state = "idle";
      this.idle.push(entry);
    }
  }

  /** The limit an idle connection has reached, if any. */
  expiry(entry: PoolEntry, now: number): LimitCounter | undefined {
    if (entry.driverConnection.closed) return "connectionsLost";
    if (now >= entry.expiresAt) return "maxLifetimeClosed";
    const maxIdleTime = this.options.connMaxIdleTime;
    if (maxIdleTime > 0 && now - entry.lastUsedAt >= maxIdleTime) return "maxIdleTimeClosed";
    return undefined;
  }

  /** Closes a connection that is no longer in the idle set or lent out. */
  retire(entry: PoolEntry, counter?: LimitCounter): void {
    entry.state = "closed";
    this.leaks?.unwatch(entry);
    this.entries.delete(entry);
    if (counter !== undefined) this.counters[counter]++;
    this.background.close(entry.driverConnection);
    this.utilization.update(this.clock.now(), this.inUse, this.entries.size);
    this.#openForWaiters();
  }

  /** Retires every idle connection now, and every other one when it comes back. */
  reset(): void {
    if (this.closing) return;
    this.generation++;
    this.counters.poolResets++;
    for (const entry of this.idle.splice(0)) this.retire(entry, "resetClosed");
  }

  /**
   * Resets the pool when an error from a connection of the current
   * generation says the server is gone, or read-only with `resetOnReadOnly`.
   * Errors from older connections are ignored: they are already retired, and
   * a late one must not retire the fresh connections of a new server.
   */
  noteError(generation: number, error: unknown): void {
    if (generation !== this.generation || this.closing) return;
    const kind = this.options.driver.classifyError?.(error);
    if (kind === "serverGone" || (kind === "readOnly" && this.options.resetOnReadOnly)) {
      this.background.report(error, "failover");
      this.reset();
    }
  }

  /** Lets shutDown() go on once nothing is in use or being checked. */
  checkDrained(): void {
    if (this.#onDrained !== undefined && this.inUse + this.checking === 0) this.#onDrained();
  }

  /**
   * Fails the waiters, closes the idle connections, waits up to
   * `closeTimeout` for the rest, then closes them under their holders.
   */
  async shutDown(): Promise<void> {
    this.closing = true;
    if (this.#retryTimer !== undefined) this.clock.clearTimeout(this.#retryTimer);
    for (let waiter; (waiter = this.waiters.shift()) !== undefined;) {
      this.#endWait(waiter, this.clock.now());
      waiter.reject(new PoolClosedError("Cannot get a connection: the pool closed while waiting"));
    }
    this.background.abortAll(new PoolClosedError("Cannot finish: the pool is closing"));
    for (const entry of this.idle.splice(0)) this.retire(entry);
    if (this.inUse + this.checking > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(resolve, this.options.closeTimeout);
        this.#onDrained = () => {
          this.clock.clearTimeout(timer);
          resolve();
        };
      });
      this.#onDrained = undefined;
      // Past the grace period: close what holders still have. Their release() is then a no-op.
      for (const entry of this.entries) {
        if (entry.state === "inUse") this.inUse--;
        else if (entry.state === "checking") this.checking--;
        this.retire(entry);
      }
    }
    await this.background.settled();
  }

  #lend(
    entry: PoolEntry,
    now: number,
    waited: number,
    origin: ConnectionLeakError | undefined,
  ): PoolConnection {
    this.acquireTimes.record(waited);
    if (this.observers.length !== 0) this.#notify("acquired", waited);
    entry.state = "inUse";
    entry.lentAt = now;
    this.inUse++;
    this.counters.acquireCount++;
    this.utilization.update(now, this.inUse, this.entries.size);
    const handle = new LentConnection(this.#lender, entry);
    if (origin !== undefined) this.leaks!.watch(entry, origin, handle);
    return handle;
  }

  #notify(event: keyof PoolObserver, ms: number): void {
    for (const observer of this.observers) {
      try {
        observer[event]?.(ms);
      } catch (error) {
        this.background.report(error, "observer");
      }
    }
  }

  #takeIdle(now: number): PoolEntry | undefined {
    const validateAfter = this.options.validateAfterIdle;
    let entry: PoolEntry | undefined;
    while ((entry = this.idle.pop()) !== undefined) {
      const limit = this.expiry(entry, now);
      if (limit !== undefined) this.retire(entry, limit);
      else if (validateAfter > 0 && now - entry.provenAt > validateAfter) {
        // Proven again before anyone gets it; meanwhile look for a fresher one.
        validateIdle(this, entry);
      } else return entry;
    }
    return undefined;
  }

  #enqueue(waiter: Waiter<PoolConnection>, signal: AbortSignal | undefined): void {
    this.waiters.push(waiter);
    this.counters.waitCount++;
    if (waiter.deadline < this.#deadlineAt) this.#armDeadline(waiter.deadline, waiter.since);
    if (signal !== undefined) {
      waiter.signal = signal;
      waiter.onAbort = () => this.#giveUp(waiter, signal.reason);
      signal.addEventListener("abort", waiter.onAbort);
    }
    this.#openForWaiters();
  }

  #armDeadline(at: number, now: number): void {
    if (this.#deadlineTimer !== undefined) this.clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.clock.setTimeout(() => this.#expireWaiters(), at - now);
  }

  /** Fails every waiter whose deadline has come, and arms the timer for the next. */
  #expireWaiters(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (let waiter = this.waiters.first; waiter !== undefined;) {
      const following = waiter.next;
      if (waiter.deadline <= now) {
        // During an outage the caller learns why no connection came.
        const cause = this.#lastConnectErrorAt >= waiter.since ? this.#lastConnectError : undefined;
        this.#giveUp(
          waiter,
          new AcquireTimeoutError(waiter.timeout, cause === undefined ? undefined : { cause }),
        );
      } else if (waiter.deadline < next) next = waiter.deadline;
      waiter = following;
    }
    if (next < Infinity) this.#armDeadline(next, now);
  }

  #giveUp(waiter: Waiter<PoolConnection>, reason: unknown): void {
    if (!waiter.queued) return;
    this.waiters.remove(waiter);
    this.#endWait(waiter, this.clock.now());
    if (reason instanceof AcquireTimeoutError) this.counters.acquireTimeouts++;
    waiter.reject(reason);
  }

  /** Ends the wait of a waiter taken out of the queue: its abort listener, and the timer once none waits. */
  #endWait(waiter: Waiter<PoolConnection>, now: number): void {
    if (this.waiters.size === 0 && this.#deadlineTimer !== undefined) {
      this.clock.clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = undefined;
      this.#deadlineAt = Infinity;
    }
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener("abort", waiter.onAbort);
    this.counters.waitDuration += now - waiter.since;
  }

  /** Opens connections for waiters that no connect in flight will serve, unless backing off. */
  #openForWaiters(): void {
    const { maxOpenConns, maxConnecting } = this.options;
    while (
      !this.closing && this.#retryTimer === undefined &&
      this.waiters.size > this.connecting + this.validating &&
      this.entries.size + this.connecting < maxOpenConns && this.connecting < maxConnecting
    ) this.#connect();
  }

  #connect(): void {
    this.connecting++;
    const generation = this.generation;
    const startedAt = this.clock.now();
    const timeout = this.options.connectTimeout;
    const attempt = this.background.bounded(
      timeout,
      () => new ConnectTimeoutError(timeout),
      (signal) => this.options.driver.connect(signal),
      (late) => this.background.close(late),
    );
    this.background.track(attempt.then(
      (connection) => this.#connected(connection, generation, startedAt),
      (error) => this.#connectFailed(error, generation),
    ));
  }

  #connected(connection: DriverConnection, generation: number, startedAt: number): void {
    this.connecting--;
    if (this.closing) return this.background.close(connection);
    this.#connectFailures = 0;
    if (this.#retryTimer !== undefined) {
      // Another attempt got through: the server is back, stop backing off.
      this.clock.clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    const now = this.clock.now();
    if (this.observers.length !== 0) this.#notify("connected", now - startedAt);
    const { connMaxLifetime, connMaxLifetimeJitter } = this.options;
    let expiresAt = Infinity;
    if (connMaxLifetime > 0) {
      // Spread: connections opened together must not all expire together.
      const random = connMaxLifetimeJitter > 0 ? this.clock.random?.() ?? Math.random() : 0;
      expiresAt = now + connMaxLifetime - connMaxLifetimeJitter * random;
    }
    const entry = new PoolEntry(connection, expiresAt, now, generation);
    this.entries.add(entry);
    this.counters.connectionsCreated++;
    connection.onClose((error) => this.#lost(entry, error));
    this.recycle(entry, now);
    this.utilization.update(now, this.inUse, this.entries.size);
    this.#openForWaiters();
  }

  #connectFailed(error: unknown, generation: number): void {
    this.connecting--;
    if (this.closing) return;
    this.noteError(generation, error);
    const now = this.clock.now();
    this.counters.connectErrors++;
    this.#lastConnectError = error;
    this.#lastConnectErrorAt = now;
    if (!(this.options.driver.canRetryConnect?.(error) ?? true)) {
      // A bad password or a missing database fails every waiter now, not at
      // its timeout; a later caller tries once more.
      if (this.waiters.size === 0) return this.background.report(error, "connect");
      for (let waiter; (waiter = this.waiters.shift()) !== undefined;) {
        this.#endWait(waiter, now);
        waiter.reject(error);
      }
      return;
    }
    // The server may come back: waiters keep waiting, and the next attempt
    // waits 100 ms, doubling up to 5 s, each delay jittered to between half
    // and all of that, so pools that lost the server together do not return together.
    this.background.report(error, "connect");
    if (this.#retryTimer !== undefined) return;
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.#connectFailures++);
    const delay = ceiling * (0.5 + 0.5 * (this.clock.random?.() ?? Math.random()));
    this.#retryTimer = this.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#openForWaiters();
    }, delay);
  }

  /** Called by the driver when a connection closes, whoever closed it. */
  #lost(entry: PoolEntry, error: unknown): void {
    if (error !== undefined) this.noteError(entry.generation, error);
    // In use or checking: its holder, or the check, finds out and retires it.
    if (entry.state !== "idle") return;
    this.idle.splice(this.idle.indexOf(entry), 1);
    this.retire(entry, "connectionsLost");
    this.background.report(
      error ?? new PoolError("CONNECTION_LOST", "An idle connection closed on its own"),
      "connectionLost",
    );
  }
}
