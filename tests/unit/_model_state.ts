/**
 * The state of one run of the model-based test: a pool on the fake driver
 * and the manual clock, and the model of what its callers hold (their
 * pending calls and loans) and of what the test did to it.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PoolErrorEvent } from "../../src/errors.ts";
import type { PoolConnection } from "../../src/connection.ts";
import type { PoolMetrics } from "../../src/pool_metrics.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { type FakeConnection, FakeDriver } from "../support/fake_driver.ts";
import { ManualClock } from "../support/manual_clock.ts";
import type { ModelConfig } from "./_model_commands.ts";

/** One `getConnection()` call and what became of it. */
export interface Call {
  index: number;
  status: "pending" | "fulfilled" | "rejected";
  value: PoolConnection | undefined;
  reason: unknown;
  /** Clock time of the call, and of its settling (when its reaction ran). */
  since: number;
  settledAt: number | undefined;
  /** The acquire timeout in force for it; 0 for none. */
  timeout: number;
  controller: AbortController | undefined;
  /** Set when the test aborted it while it was pending. */
  abortReason: unknown;
  /** Whether the model predicted PoolExhaustedError for it. */
  exhausted: boolean;
  /**
   * Whether it may be refused: a connection being validated for a waiter
   * makes room for one more (`maxWaiting`), and the metrics count those
   * among `checking`, with the health checks.
   */
  refusable: boolean;
  /** Whether its outcome has been checked. */
  checked: boolean;
}

/** One `pool.execute()` call, pipelinable, and what became of it. */
export interface Exec {
  index: number;
  text: string;
  status: "pending" | "fulfilled" | "rejected";
  reason: unknown;
  since: number;
  settledAt: number | undefined;
  /** Its statement timeout; 0 for none. */
  timeout: number;
  /** The connection it was sent on, once it was. */
  fake: FakeConnection | undefined;
  checked: boolean;
}

/** A connection a call was given. */
export interface Loan {
  handle: PoolConnection;
  fake: FakeConnection;
  /** Clock time it was lent, and released (by its holder). */
  lentAt: number;
  releasedAt: number | undefined;
  released: boolean;
  /** Taken from its holder by close() after the grace period. */
  revoked: boolean;
}

/**
 * The longest the pool backs off after a failed connect before it tries
 * again for its waiters, in milliseconds: a waiter may go without a connect
 * in flight that long after the last failure.
 */
export const RETRY_MAX_MS = 5_000;

let tags = 0;

/** One pool under test, and the model of what its callers hold. */
export class ModelState {
  readonly config: ModelConfig;
  readonly driver = new FakeDriver();
  readonly clock = new ManualClock();
  readonly pool: ConnectionPool;
  readonly errors: [unknown, PoolErrorEvent][] = [];
  readonly calls: Call[] = [];
  readonly execs: Exec[] = [];
  readonly loans: Loan[] = [];
  /** Transactions that got a connection (each one acquisition). */
  transactions = 0;
  /** Whether some connection was told to leave its pings unanswered. */
  pingsHung = false;
  /** Clock time each fake connection opened, and was last released. */
  readonly openedAt = new Map<FakeConnection, number>();
  readonly lastUsed = new Map<FakeConnection, number>();
  /** Errors the fakes are told to fail with, to recognise them. */
  readonly refused = new Error("Connection refused (model)");
  readonly badPassword = new Error("Password authentication failed (model)");
  readonly pingFailure = new Error("Ping failed (model)");
  readonly resetFailure = new Error("Reset failed (model)");
  readonly death = new Error("Connection died (model)");
  gate: PromiseWithResolvers<void> | undefined;
  gateUsed = false;
  connectsFailed = false;
  resets = 0;
  /** When the model last saw connectErrors grow (at or after the failure). */
  lastConnectErrorAt = -Infinity;
  /** The pool's connectErrors when the checks last looked. */
  connectErrorsSeen = 0;
  /** Fakes with an id up to this existed at the last pool.reset(): never lent again. */
  resetMark = 0;
  closeStart: number | undefined;
  closed: Promise<void> | undefined;
  closeStatus: "pending" | "fulfilled" | "rejected" = "pending";
  /** How many of `errors` the checks have looked at. */
  errorsChecked = 0;

  constructor(config: ModelConfig) {
    this.config = config;
    let seed = config.randomSeed;
    // Park-Miller: jitter that is random yet the same on every replay of a counterexample.
    this.clock.random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    this.driver.onOpen = (fake) => {
      this.openedAt.set(fake, this.clock.now());
      this.lastUsed.set(fake, this.clock.now());
      // Pipelined statements stay in flight until the model answers them.
      fake.holdPipeline = true;
    };
    this.driver.pipelinable = (text) => text.startsWith("select 'exec ");
    const { randomSeed: _, jitter, maxWaiting, maxConnecting, ...limits } = config;
    this.pool = new ConnectionPool({
      driver: this.driver,
      clock: this.clock,
      ...limits,
      ...(jitter ? {} : { connMaxLifetimeJitter: 0 }),
      ...(maxWaiting === undefined ? {} : { maxWaiting }),
      ...(maxConnecting === undefined ? {} : { maxConnecting }),
      // The model does not predict the circuit breaker; circuit_breaker_test.ts covers it.
      breakerThreshold: 0,
      onError: (error, event) => this.errors.push([error, event]),
    });
  }

  /** Loans not yet released nor taken by close(). */
  liveLoans(): Loan[] {
    return this.loans.filter((loan) => !loan.released && !loan.revoked);
  }

  pending(): Call[] {
    return this.calls.filter((call) => call.status === "pending");
  }

  /** Fake connections that are open and lent to nobody: the pool's idle set. */
  idleFakes(): FakeConnection[] {
    const held = new Set(this.liveLoans().map((loan) => loan.fake));
    for (const fake of this.sharedFakes()) held.add(fake);
    return this.driver.connections.filter((fake) => !fake.closed && !held.has(fake));
  }

  /** Fake connections carrying statements of `pool.execute` still in flight. */
  sharedFakes(): Set<FakeConnection> {
    this.locateExecs();
    return new Set(
      this.execs.filter((e) => e.status === "pending" && e.fake !== undefined).map((e) => e.fake!),
    );
  }

  /** The `pool.execute` calls still waiting for a connection. */
  waitingExecs(): Exec[] {
    this.locateExecs();
    return this.execs.filter((e) => e.status === "pending" && e.fake === undefined);
  }

  /** Notes which connection each execute was sent on, once it was. */
  locateExecs(): void {
    for (const exec of this.execs) {
      if (exec.fake !== undefined) continue;
      exec.fake = this.driver.connections.find((fake) =>
        fake.pipelined.includes(exec.text) || fake.queries.includes(exec.text)
      );
    }
  }

  /** Calls `pool.execute()` with a statement the driver deems pipelinable. */
  execute(timeout: number | undefined): Exec {
    const { pool, clock } = this;
    const exec: Exec = {
      index: this.execs.length,
      text: `select 'exec ${this.execs.length}'`,
      status: "pending",
      reason: undefined,
      since: clock.now(),
      settledAt: undefined,
      timeout: timeout ?? 0,
      fake: undefined,
      checked: false,
    };
    this.execs.push(exec);
    pool.execute(exec.text, [], { timeout }).then(
      () => {
        exec.status = "fulfilled";
        exec.settledAt = clock.now();
      },
      (reason) => {
        exec.status = "rejected";
        exec.reason = reason;
        exec.settledAt = clock.now();
      },
    );
    return exec;
  }

  /** Calls getConnection(); `before`, the metrics just before, predicts a refusal. */
  acquire(timeout: number | undefined, withSignal: boolean, before: PoolMetrics): Call {
    const { pool, clock, config } = this;
    const controller = withSignal ? new AbortController() : undefined;
    const full = this.closeStart === undefined && config.maxWaiting !== undefined &&
      before.idle === 0 && before.openConnections >= before.maxOpenConnections;
    const call: Call = {
      index: this.calls.length,
      status: "pending",
      value: undefined,
      reason: undefined,
      since: clock.now(),
      settledAt: undefined,
      timeout: timeout ?? config.acquireTimeout,
      controller,
      abortReason: undefined,
      exhausted: full && before.waiting >= config.maxWaiting! + before.checking,
      refusable: full && before.waiting >= config.maxWaiting!,
      checked: false,
    };
    this.calls.push(call);
    pool.getConnection({ timeout, signal: controller?.signal }).then(
      (value) => {
        call.status = "fulfilled";
        call.value = value;
        call.settledAt = clock.now();
      },
      (reason) => {
        call.status = "rejected";
        call.reason = reason;
        call.settledAt = clock.now();
      },
    );
    return call;
  }

  /** Whether a connect failed recently enough that the pool may still wait to retry. */
  mayBackOff(): boolean {
    return this.clock.now() - this.lastConnectErrorAt < RETRY_MAX_MS;
  }

  /** The calls rejected with a reason that `match` accepts. */
  count(match: (reason: unknown) => boolean): number {
    return [...this.calls, ...this.execs].filter((call) =>
      call.status === "rejected" && match(call.reason)
    ).length;
  }

  /** The fake behind a loan: runs a tagged statement (recorded at once) and looks. */
  fakeOf(handle: PoolConnection): FakeConnection {
    const tag = `select 'model ${++tags}'`;
    handle.execute(tag).catch(() => {});
    const found = this.driver.connections.filter((fake) => fake.queries.at(-1) === tag);
    assert.equal(found.length, 1, "the tagged statement ran on one connection");
    return found[0];
  }

  /** Releases a loan as its holder would, noting when. */
  release(loan: Loan): void {
    loan.released = true;
    loan.releasedAt = this.clock.now();
    this.lastUsed.set(loan.fake, this.clock.now());
    loan.handle.release();
    assert.ok(loan.handle.released);
  }

  openGate(): void {
    this.gate?.resolve();
    this.gate = undefined;
    this.driver.connectGate = undefined;
  }

  /** Closes the pool, noting when close() began and how it ended. */
  close(): void {
    if (this.closeStart === undefined) this.closeStart = this.clock.now();
    const closed = this.pool.close();
    if (this.closed === undefined) {
      this.closed = closed;
      closed.then(
        () => void (this.closeStatus = "fulfilled"),
        () => void (this.closeStatus = "rejected"),
      );
    }
    assert.equal(closed, this.closed, "close() again returns the same promise");
  }
}
