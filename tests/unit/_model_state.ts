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
  /** Whether its outcome has been checked. */
  checked: boolean;
}

/** A connection a call was given. */
export interface Loan {
  handle: PoolConnection;
  fake: FakeConnection;
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
  readonly loans: Loan[] = [];
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
    };
    const { randomSeed: _, jitter, maxWaiting, ...limits } = config;
    this.pool = new ConnectionPool({
      driver: this.driver,
      clock: this.clock,
      ...limits,
      ...(jitter ? {} : { connMaxLifetimeJitter: 0 }),
      ...(maxWaiting === undefined ? {} : { maxWaiting }),
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
    return this.driver.connections.filter((fake) => !fake.closed && !held.has(fake));
  }

  /** Calls getConnection(); `before`, the metrics just before, predicts a refusal. */
  acquire(timeout: number | undefined, withSignal: boolean, before: PoolMetrics): Call {
    const { pool, clock, config } = this;
    const controller = withSignal ? new AbortController() : undefined;
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
      exhausted: this.closeStart === undefined && config.maxWaiting !== undefined &&
        before.idle === 0 && before.waiting >= config.maxWaiting &&
        before.openConnections >= before.maxOpenConnections,
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
    return this.calls.filter((call) => call.status === "rejected" && match(call.reason)).length;
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
