import type { Clock } from "../clock.ts";
import type { PoolConnection } from "../connection.ts";
import type { DriverConnection } from "../driver.ts";
import {
  ConnectionAbandonedError,
  type ConnectionLeakError,
  PoolClosedError,
  PoolError,
  PoolExhaustedError,
} from "../errors.ts";
import type { PoolObserver } from "../observer.ts";
import type { PoolCounters } from "../pool_metrics.ts";
import { BackgroundWork } from "./background.ts";
import { backoffEnded, circuitChanged, sendProbe } from "./breaker_actions.ts";
import { checkOut } from "./checks.ts";
import { CircuitBreaker } from "./circuit_breaker.ts";
import { Connector } from "./connector.ts";
import { zeroCounters } from "./counters.ts";
import { PoolEntry } from "./entry.ts";
import { LatencyHistogram } from "./histogram.ts";
import { LeakDetector } from "./leak_detector.ts";
import { EntryLedger } from "./ledger.ts";
import { type Lender, LentConnection } from "./lent_connection.ts";
import type { ResolvedPoolOptions } from "./options.ts";
import { Pipelines } from "./pipelines.ts";
import { ServerCheck } from "./server_check.ts";
import { Validator } from "./validation.ts";
import { Waiter } from "./wait_queue.ts";
import { WaitingLine } from "./waiting_line.ts";
import { Warming } from "./warming.ts";

/** Counters of connections retired by a limit. */
export type LimitCounter =
  | "maxIdleClosed"
  | "maxIdleTimeClosed"
  | "maxLifetimeClosed"
  | "connectionsLost"
  | "resetClosed";

/**
 * The pool's mechanics: lending and taking back, waiting in line, opening
 * and retiring. `ConnectionPool` is its public face and `maintenance.ts`
 * its timers; a connection's state changes only through `ledger.move()`.
 */
export class PoolCore {
  readonly options: ResolvedPoolOptions;
  readonly clock: Clock;
  readonly background: BackgroundWork;
  readonly ledger: EntryLedger;
  readonly waiters: WaitingLine;
  readonly connector: Connector;
  readonly counters: PoolCounters = zeroCounters();
  readonly breaker: CircuitBreaker;
  readonly warming: Warming;
  readonly acquireTimes = new LatencyHistogram();
  /** Told of each timing as it happens; usually none, so every hand-off checks the length first. */
  readonly observers: PoolObserver[] = [];
  /** Set only when `leakDetectionThreshold` is on. */
  readonly leaks: LeakDetector | undefined;
  /** Set only when `maxPipeline` is on; used only for statements the driver deems pipelinable. */
  readonly pipelines: Pipelines | undefined;
  /** Pings idle connections before hand-out; times the pool's round trips. */
  readonly validator: Validator = new Validator(this);
  /** Tells a terminated backend from a server going away. */
  readonly #serverCheck: ServerCheck = new ServerCheck(this);
  /** Bumped by reset(): connections of an older generation are retired, not reused. */
  generation = 0;
  closing = false;
  /**
   * Set while a health-check round pings its connections in turn. Only
   * close() takes a connection from its ping, and no round follows then.
   */
  healthRound = false;
  readonly #lender: Lender;

  constructor(options: ResolvedPoolOptions, clock: Clock) {
    this.options = options;
    this.clock = clock;
    this.background = new BackgroundWork(clock, options.onError);
    this.ledger = new EntryLedger(clock.now());
    this.connector = new Connector(options, clock, this.background, {
      connected: (connection, generation, startedAt) =>
        this.#connected(connection, generation, startedAt),
      failed: (error, generation) => this.#connectFailed(error, generation),
      retry: () => backoffEnded(this),
      freed: () => this.breaker.state === "halfOpen" ? sendProbe(this) : this.openForWaiters(),
    });
    this.breaker = new CircuitBreaker(options.breakerThreshold, this.counters);
    this.warming = new Warming(options.minIdleConns, clock, () => this.ledger.all.size);
    this.waiters = new WaitingLine(
      clock,
      this.counters,
      (since) => this.connector.lastErrorAt >= since ? this.connector.lastError : undefined,
    );
    this.#lender = {
      release: (entry) => this.release(entry),
      clock,
      noteError: options.driver.classifyError === undefined
        ? undefined
        : (entry, error) => this.noteError(entry.generation, error),
      watchSession: options.resetSession === "auto",
      leakWatch: options.leakDetectionThreshold > 0,
    };
    if (options.maxPipeline > 0) this.pipelines = new Pipelines(options.maxPipeline);
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
    this.openForWaiters();
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
    const entry = this.takeIdle(now);
    if (entry !== undefined) return Promise.resolve(this.#lend(entry, now, 0, origin));
    if (this.full()) return this.refuse();
    return new Promise((resolve, reject) => {
      const serve = (entry: PoolEntry, at: number) =>
        resolve(this.#lend(entry, at, at - now, origin));
      this.waiters.add(new Waiter(serve, reject, now, timeout), signal);
      this.openForWaiters();
    });
  }

  /**
   * Takes back a lent connection: reuses it, resets it, or retires it.
   * `now` is the pool's clock, read by the caller when it already has it.
   */
  release(entry: PoolEntry, now = this.clock.now()): void {
    // A connection shutDown() took from its holder is already gone.
    if (entry.state !== "inUse") return;
    this.leaks?.unwatch(entry);
    entry.lastUsedAt = entry.provenAt = now;
    if (this.observers.length !== 0) this.#notify("released", now - entry.lentAt);
    const connection = entry.driverConnection;
    if (connection.closed) this.retire(entry, "connectionsLost");
    else if (
      (connection.dirty || this.options.resetSession === true || entry.sessionChanged) &&
      !this.closing &&
      entry.generation === this.generation
    ) {
      this.#resetThenRecycle(entry);
    } else this.recycle(entry, now);
  }

  /** Hands a usable connection to the oldest waiter, or keeps it idle, or retires it. */
  recycle(entry: PoolEntry, now: number): void {
    if (this.closing) return this.retire(entry);
    if (entry.driverConnection.closed) return this.retire(entry, "connectionsLost");
    if (entry.generation !== this.generation) return this.retire(entry, "resetClosed");
    if (now >= entry.expiresAt) return this.retire(entry, "maxLifetimeClosed");
    const waiter = this.waiters.next(now);
    if (waiter !== undefined) {
      waiter.serve(entry, now);
    } else if (this.ledger.idle.length >= this.options.maxIdleConns) {
      this.retire(entry, "maxIdleClosed");
    } else {
      this.ledger.move(entry, "idle", now);
    }
  }

  /** The limit an idle connection has reached, if any. */
  expiry(entry: PoolEntry, now: number): LimitCounter | undefined {
    if (entry.driverConnection.closed) return "connectionsLost";
    if (now >= entry.expiresAt) return "maxLifetimeClosed";
    const { connMaxIdleTime: maxIdleTime, minIdleConns } = this.options;
    if (
      maxIdleTime > 0 && now - entry.lastUsedAt >= maxIdleTime &&
      this.ledger.idle.length > minIdleConns
    ) return "maxIdleTimeClosed";
    return undefined;
  }

  /** Closes a connection, whatever its state, and opens another if a waiter needs one. */
  retire(entry: PoolEntry, counter?: LimitCounter): void {
    this.leaks?.unwatch(entry);
    this.ledger.move(entry, "closed", this.clock.now());
    if (counter !== undefined) this.counters[counter]++;
    this.background.close(entry.driverConnection);
    this.openForWaiters();
  }

  /** Retires every idle connection now, and every other one when it comes back. */
  reset(): void {
    if (this.closing) return;
    this.generation++;
    this.counters.poolResets++;
    const idle = this.ledger.idle;
    while (idle.length > 0) this.retire(idle[idle.length - 1], "resetClosed");
  }

  /**
   * Resets the pool when an error from a connection of the current
   * generation says the server is gone, or read-only with `resetOnReadOnly`.
   * Errors from older connections are ignored: they are already retired, and
   * a late one must not retire the fresh connections of a new server. A
   * "server gone" that ended an `established` connection may be that backend's
   * alone: the server is checked first (see `ServerCheck`).
   */
  noteError(generation: number, error: unknown, established = true): void {
    if (generation !== this.generation || this.closing) return;
    const kind = this.options.driver.classifyError?.(error);
    if (kind === "serverGone" && established) this.#serverCheck.check(error);
    else if (kind === "serverGone" || (kind === "readOnly" && this.options.resetOnReadOnly)) {
      this.failover(error);
    }
  }

  /** Reports `error` as `"failover"` and retires every connection, as `reset()` does. */
  failover(error: unknown): void {
    this.background.report(error, "failover");
    this.reset();
  }

  /**
   * Fails the waiters, closes the idle connections, waits up to
   * `closeTimeout` for the rest, then closes them under their holders.
   */
  async shutDown(): Promise<void> {
    this.closing = true;
    this.connector.stop();
    this.waiters.rejectAll(
      new PoolClosedError("Cannot get a connection: the pool closed while waiting"),
    );
    this.warming.rejectAll(new PoolClosedError("Cannot get ready: the pool closed while waiting"));
    this.background.abortAll(new PoolClosedError("Cannot finish: the pool is closing"));
    const { ledger } = this;
    while (ledger.idle.length > 0) this.retire(ledger.idle[ledger.idle.length - 1]);
    if (ledger.busy > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(resolve, this.options.closeTimeout);
        ledger.onDrained = () => {
          this.clock.clearTimeout(timer);
          resolve();
        };
      });
      ledger.onDrained = undefined;
      // Past the grace period: close what holders still have. Their release() is then a no-op.
      for (const entry of ledger.all) this.retire(entry);
    }
    await this.background.settled();
  }

  #lend(
    entry: PoolEntry,
    now: number,
    waited: number,
    origin: ConnectionLeakError | undefined,
  ): PoolConnection {
    this.recordAcquire(waited);
    this.ledger.move(entry, "inUse", now);
    entry.lentAt = now;
    this.counters.acquireCount++;
    const handle = new LentConnection(this.#lender, entry);
    if (origin !== undefined) this.leaks!.watch(entry, origin, handle);
    // Warming: the idle set may just have dropped below minIdleConns.
    if (this.options.minIdleConns > 0) this.openForWaiters();
    return handle;
  }

  /** Whether no more connections may open. */
  atMost(): boolean {
    return this.ledger.all.size + this.connector.connecting >= this.options.maxOpenConns;
  }

  /** Connections on their way to waiters: being opened, or validated before hand-out. */
  coming(): number {
    // A doubted ping may never answer: a free slot opens a connection in parallel.
    return this.connector.connecting + this.ledger.validating - this.validator.doubted;
  }

  /** Whether a caller must be refused rather than queued: see `maxWaiting`. */
  full(): boolean {
    // A connection being validated will serve a waiter, like one being opened.
    return this.breaker.refusing ||
      this.waiters.size >= this.options.maxWaiting + this.ledger.validating && this.atMost();
  }

  refuse(): Promise<never> {
    if (this.breaker.refusing) return Promise.reject(this.breaker.refuse());
    this.counters.acquireRejections++;
    return Promise.reject(new PoolExhaustedError(this.options.maxWaiting));
  }

  /** Records one acquisition's wait, in milliseconds: the histogram, and the observers. */
  recordAcquire(waited: number): void {
    this.acquireTimes.record(waited);
    if (this.observers.length !== 0) this.#notify("acquired", waited);
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

  /** The most recently used idle connection that is fit to lend, leaving it in the idle set. */
  takeIdle(now: number): PoolEntry | undefined {
    const idle = this.ledger.idle;
    while (idle.length > 0) {
      const entry = idle[idle.length - 1];
      const limit = this.expiry(entry, now);
      if (limit !== undefined) this.retire(entry, limit);
      else if (this.validator.due(entry, now)) {
        // Proven again before anyone gets it; meanwhile look for a fresher one.
        this.validator.validate(entry);
      } else return entry;
    }
    return undefined;
  }

  /**
   * Rolls back a connection released mid-transaction (or, with `resetSession`
   * on or a borrower's change of the session under `"auto"`, clears its whole
   * session), then reuses it, or closes it.
   */
  #resetThenRecycle(entry: PoolEntry): void {
    const connection = entry.driverConnection;
    const clear = (this.options.resetSession === true || entry.sessionChanged) &&
      connection.discard !== undefined;
    checkOut(
      this,
      entry,
      "checking",
      "Cannot reset connection",
      (signal) => clear ? connection.discard!(signal) : connection.reset(signal),
      (end) => {
        // Without `discard`, the rollback is all a reset can do.
        entry.sessionChanged = false;
        this.recycle(entry, end);
      },
      (error) => {
        if (!this.closing) this.background.report(error, "reset");
        // A reset that close() aborted lost nothing: the pool is closing the connection itself.
        this.retire(entry, this.closing ? undefined : "connectionsLost");
      },
    );
  }

  /**
   * Opens connections for waiters that no connect in flight will serve, and
   * those warming wants, unless backing off or the circuit breaker is not closed.
   */
  openForWaiters(): void {
    const { maxOpenConns, maxConnecting } = this.options;
    const { ledger, connector } = this;
    const wanted = this.waiters.size +
      this.warming.wanted(ledger.idle.length + ledger.checking, ledger.all.size);
    while (
      !this.closing && !connector.backingOff && !this.breaker.refusing && wanted > this.coming() &&
      ledger.all.size + connector.connecting < maxOpenConns &&
      connector.connecting < maxConnecting
    ) connector.connect(this.generation);
  }

  #connected(connection: DriverConnection, generation: number, startedAt: number): void {
    if (this.closing) return this.background.close(connection);
    if (this.breaker.succeeded()) circuitChanged(this);
    const now = this.clock.now();
    if (this.observers.length !== 0) this.#notify("connected", now - startedAt);
    // Several round trips: an estimate on the high side until pings are timed.
    this.validator.roundTrips.sample(now - startedAt);
    const { connMaxLifetime, connMaxLifetimeJitter } = this.options;
    let expiresAt = Infinity;
    if (connMaxLifetime > 0) {
      // Spread: connections opened together must not all expire together.
      const random = connMaxLifetimeJitter > 0 ? this.clock.random?.() ?? Math.random() : 0;
      expiresAt = now + connMaxLifetime - connMaxLifetimeJitter * random;
    }
    const entry = new PoolEntry(connection, expiresAt, now, generation);
    this.ledger.add(entry);
    this.counters.connectionsCreated++;
    connection.onClose((error) => this.#lost(entry, error));
    this.recycle(entry, now);
    this.warming.connected();
    this.openForWaiters();
  }

  #connectFailed(error: unknown, generation: number): void {
    if (this.closing) return;
    this.noteError(generation, error, false);
    this.counters.connectErrors++;
    const permanent = !(this.options.driver.canRetryConnect?.(error) ?? true);
    const { breaker } = this;
    const opened = breaker.failed(error, this.ledger.all.size === 0);
    this.warming.failed(error, permanent || breaker.refusing);
    // A bad password or a missing database fails every waiter now, not at
    // its timeout; a later caller tries once more.
    if (permanent && this.waiters.size > 0) this.waiters.rejectAll(error);
    else this.background.report(error, "connect");
    if (opened) circuitChanged(this);
    // The server may come back: waiters wait for the connector's next attempt,
    // and an open breaker sends its probe then.
    if (!permanent || breaker.refusing) this.connector.backOff();
  }

  /** Called by the driver when a connection closes, whoever closed it. */
  #lost(entry: PoolEntry, error: unknown): void {
    if (error !== undefined) this.noteError(entry.generation, error);
    // In use or checking: its holder, or the check, finds out and retires it.
    if (entry.state !== "idle") return;
    this.retire(entry, "connectionsLost");
    this.background.report(
      error ?? new PoolError("CONNECTION_LOST", "An idle connection closed on its own"),
      "connectionLost",
    );
  }
}
