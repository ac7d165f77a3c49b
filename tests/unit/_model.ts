/**
 * A model-based test of the pool: random commands run against a pool on the
 * fake driver and the manual clock, and after each one the pool is checked
 * against what a caller can see (loans, pending calls, fake connections) and
 * against the pool's own invariants.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { PoolErrorEvent } from "../../src/errors.ts";
import type { PoolConnection } from "../../src/connection.ts";
import {
  AcquireTimeoutError,
  ConnectTimeoutError,
  PoolClosedError,
  PoolExhaustedError,
} from "../../src/errors.ts";
import type { PoolMetrics } from "../../src/pool_metrics.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { type FakeConnection, FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { assertConsistent } from "../support/pool_helpers.ts";

/** The pool's options for one run; every duration in milliseconds, 0 for off. */
export interface ModelConfig {
  maxOpenConns: number;
  maxIdleConns: number;
  maxWaiting: number | undefined;
  acquireTimeout: number;
  connectTimeout: number;
  healthInterval: number;
  connMaxLifetime: number;
  /** Whether lifetimes get the default jitter (a tenth), drawn from `randomSeed`. */
  jitter: boolean;
  connMaxIdleTime: number;
  validateAfterIdle: number;
  closeTimeout: number;
  randomSeed: number;
}

/** One step. `pick` chooses among the candidates of the moment, modulo their number. */
export type Command =
  | { kind: "acquire"; timeout: number | undefined; signal: boolean }
  | { kind: "release"; pick: number }
  | { kind: "releaseTwice"; pick: number }
  | { kind: "dirtyRelease"; pick: number; resetFails: boolean }
  | { kind: "abort"; pick: number }
  | { kind: "advance"; ms: number }
  | { kind: "failConnects"; count: number; permanent: boolean }
  | { kind: "hangConnects" }
  | { kind: "openGate" }
  | { kind: "die"; pick: number; idle: boolean }
  | { kind: "pingFails"; pick: number }
  | { kind: "reset" }
  | { kind: "close"; grace: number };

/** A duration in 50 ms steps (so timers often fall due together), or 0. */
function duration(max: number, zero = true): fc.Arbitrary<number> {
  const steps = fc.integer({ min: 1, max: max / 50 }).map((n) => n * 50);
  return zero ? fc.oneof(fc.constant(0), steps) : steps;
}

export const configArbitrary: fc.Arbitrary<ModelConfig> = fc.integer({ min: 1, max: 4 }).chain((
  maxOpenConns,
) =>
  fc.record({
    maxOpenConns: fc.constant(maxOpenConns),
    maxIdleConns: fc.integer({ min: 0, max: maxOpenConns }),
    maxWaiting: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    acquireTimeout: duration(2_000),
    connectTimeout: duration(1_000),
    healthInterval: duration(2_000),
    connMaxLifetime: duration(6_000),
    jitter: fc.boolean(),
    connMaxIdleTime: duration(4_000),
    validateAfterIdle: duration(2_000),
    closeTimeout: duration(2_000),
    randomSeed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
  })
);

const pick = fc.nat({ max: 7 });

export const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("acquire" as const),
      timeout: fc.option(duration(1_500), { nil: undefined }),
      signal: fc.boolean(),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("release" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("releaseTwice" as const), pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("dirtyRelease" as const),
      pick,
      resetFails: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("abort" as const), pick }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 120 }), duration(3_000, false)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("failConnects" as const),
      count: fc.integer({ min: 1, max: 3 }),
      permanent: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hangConnects" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("openGate" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("die" as const), pick, idle: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pingFails" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("close" as const), grace: fc.nat({ max: 2_500 }) }),
  },
);

/** One `getConnection()` call and what became of it. */
interface Call {
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
interface Loan {
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
const RETRY_MAX_MS = 5_000;

/** Steps run by every ModelRun so far, to report. */
export const stats = { runs: 0, steps: 0 };

let tags = 0;

/** One pool under test, the model of what its callers hold, and the checks. */
export class ModelRun {
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
  #connectErrorsSeen = 0;
  /** Fakes with an id up to this existed at the last pool.reset(): never lent again. */
  resetMark = 0;
  closeStart: number | undefined;
  closed: Promise<void> | undefined;
  closeStatus: "pending" | "fulfilled" | "rejected" = "pending";
  #errorsChecked = 0;

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
      onError: (error, event) => this.errors.push([error, event]),
    });
    stats.runs++;
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

  /** Runs one command, lets every reaction settle, and checks the pool. */
  async run(command: Command): Promise<void> {
    stats.steps++;
    const { pool, driver, clock } = this;
    switch (command.kind) {
      case "acquire": {
        const m = pool.getMetrics();
        const canServe = this.closeStart === undefined && this.gate === undefined &&
          driver.connectErrors.length === 0 && !this.#mayBackOff() &&
          (m.idle > 0 || m.openConnections < m.maxOpenConnections);
        const call = this.#acquire(command.timeout, command.signal, m);
        await flush();
        if (call.exhausted) assert.ok(call.reason instanceof PoolExhaustedError, "refused at once");
        if (canServe) {
          assert.equal(
            call.status,
            "fulfilled",
            `not served at once from a free slot: ${call.reason}`,
          );
        }
        if (this.closeStart !== undefined) assert.ok(call.reason instanceof PoolClosedError);
        break;
      }
      case "release":
      case "releaseTwice": {
        const loan = choose(this.liveLoans(), command.pick);
        if (loan === undefined) break;
        this.#release(loan);
        if (command.kind === "releaseTwice") {
          const before = pool.getMetrics();
          loan.handle.release();
          assert.deepEqual(pool.getMetrics(), before, "a second release does nothing");
        }
        await flush();
        break;
      }
      case "dirtyRelease": {
        const loan = choose(this.liveLoans(), command.pick);
        if (loan === undefined) break;
        loan.handle.execute("begin").catch(() => {});
        if (command.resetFails) loan.fake.resetError = this.resetFailure;
        const rollsBack = loan.fake.dirty && !loan.fake.closed;
        const resetsFirst = rollsBack && this.closeStart === undefined &&
          loan.fake.id > this.resetMark;
        const resets = loan.fake.resets;
        this.#release(loan);
        await flush();
        assert.equal(loan.fake.resets - resets, resetsFirst ? 1 : 0, "rolled back when reusable");
        if (resetsFirst && command.resetFails) {
          assert.ok(loan.fake.closed, "a connection that failed its rollback is closed");
        }
        break;
      }
      case "abort": {
        const call = choose(this.pending().filter((c) => c.controller), command.pick);
        if (call === undefined) break;
        call.abortReason = new Error(`Aborted call ${call.index} (model)`);
        call.controller!.abort(call.abortReason);
        await flush();
        assert.equal(call.reason, call.abortReason, "an aborted wait rejects with the reason");
        break;
      }
      case "advance":
        await clock.advanceAsync(command.ms);
        break;
      case "failConnects":
        if (command.permanent) driver.permanentErrors.add(this.badPassword);
        driver.failConnects(command.count, command.permanent ? this.badPassword : this.refused);
        this.connectsFailed = true;
        await flush();
        break;
      case "hangConnects":
        if (this.gate === undefined) {
          this.gate = Promise.withResolvers<void>();
          driver.connectGate = this.gate.promise;
          this.gateUsed = true;
        }
        break;
      case "openGate":
        this.#openGate();
        await flush();
        break;
      case "die": {
        const candidates = command.idle
          ? this.idleFakes()
          : this.liveLoans().map((loan) => loan.fake).filter((fake) => !fake.closed);
        choose(candidates, command.pick)?.die(this.death);
        await flush();
        break;
      }
      case "pingFails": {
        const fake = choose(this.driver.connections.filter((f) => !f.closed), command.pick);
        if (fake !== undefined) fake.pingError = this.pingFailure;
        break;
      }
      case "reset":
        if (this.closeStart === undefined) {
          this.resets++;
          this.resetMark = driver.connections.length;
        }
        pool.reset();
        await flush();
        break;
      case "close": {
        const waiting = this.pending();
        this.#close();
        await clock.advanceAsync(command.grace);
        for (const call of waiting) {
          assert.ok(call.reason instanceof PoolClosedError, "close() fails every waiter");
        }
        break;
      }
    }
    this.check();
  }

  /**
   * Opens the gate, then releases every loan and runs the clock past every
   * timeout until no call is pending; then closes the pool and checks that
   * nothing is left: no connection, no timer, no connect, no pending promise.
   */
  async finish(): Promise<void> {
    const { pool, driver, clock, config } = this;
    this.#openGate();
    await flush();
    this.check();
    const longest = Math.max(config.acquireTimeout, config.connectTimeout, RETRY_MAX_MS) + 1;
    for (let round = 0; round < 50; round++) {
      for (const loan of this.liveLoans()) this.#release(loan);
      await clock.advanceAsync(longest);
      this.check();
      if (this.pending().length === 0 && this.liveLoans().length === 0) break;
    }
    assert.deepEqual(this.pending().map((call) => call.index), [], "every call settled");
    assert.equal(this.liveLoans().length, 0, "every loan released");
    if (this.closed === undefined) this.#close();
    await clock.advanceAsync(config.closeTimeout + 1);
    this.check();
    assert.equal(this.closeStatus, "fulfilled", "close() resolved");
    const m = pool.getMetrics();
    assert.deepEqual(
      [m.openConnections, m.inUse, m.idle, m.connecting, m.checking, m.waiting],
      [0, 0, 0, 0, 0, 0],
      "nothing open after close",
    );
    assert.deepEqual(driver.connections.filter((fake) => !fake.closed).map((f) => f.id), []);
    assert.equal(clock.pendingTimers, 0, "no timer left after close");
    await assert.rejects(pool.getConnection(), PoolClosedError);
  }

  /** Checks the pool against the model and its invariants, after reactions settled. */
  check(): void {
    const { pool, driver, clock, config } = this;
    const m = pool.getMetrics();
    const now = clock.now();
    assertConsistent(pool);
    assert.ok(m.idle <= config.maxIdleConns, `${m.idle} idle, above maxIdleConns`);
    assert.equal(m.checking, 0, "the fake answers pings and rollbacks at once");
    if (this.closeStatus === "fulfilled") {
      for (const loan of this.liveLoans()) loan.revoked = true;
    }

    if (m.connectErrors > this.#connectErrorsSeen) {
      this.#connectErrorsSeen = m.connectErrors;
      this.lastConnectErrorAt = now;
    }
    const oldestPending = this.pending()[0]?.index ?? Infinity;
    for (const call of this.calls) {
      if (call.checked || call.status === "pending") continue;
      call.checked = true;
      if (call.status === "fulfilled") this.#lent(call, oldestPending);
      else this.#rejected(call);
    }
    assert.equal(m.acquireCount, this.loans.length, "acquireCount counts every loan");
    assert.equal(m.acquireTimeouts, this.#count((e) => e instanceof AcquireTimeoutError));
    assert.equal(m.acquireRejections, this.#count((e) => e instanceof PoolExhaustedError));
    assert.equal(m.poolResets, this.resets);
    assert.ok(m.connectionsCreated <= driver.connections.length);
    if (this.closeStart === undefined) {
      assert.equal(m.connectionsCreated, driver.connections.length);
    }
    this.#checkErrors();

    const live = this.liveLoans();
    const held = new Set(live.map((loan) => loan.fake));
    assert.equal(held.size, live.length, "no connection is lent to two callers at once");
    const deadHeld = live.filter((loan) => loan.fake.closed).length;
    assert.equal(
      m.openConnections,
      m.connecting + driver.live + deadHeld,
      "the pool counts every open fake connection, and the dead ones still lent",
    );
    const pending = this.pending();
    assert.equal(m.waiting, pending.length, "waiting counts the pending calls");
    for (const call of pending) {
      assert.ok(
        call.timeout === 0 || now < call.since + call.timeout,
        `call ${call.index} still pending past its ${call.timeout} ms timeout`,
      );
    }
    const idle = this.idleFakes();
    for (const fake of idle) {
      assert.equal(fake.transaction, "idle", `idle connection ${fake.id} is dirty`);
      this.#withinLimits(fake, now);
    }

    if (this.closeStart === undefined) {
      assert.equal(m.inUse, live.length, "inUse counts the loans");
      assert.equal(m.idle, idle.length, "idle counts the open fakes nobody holds");
      if (this.gate === undefined) assert.equal(m.connecting, 0, "no connect hangs without a gate");
      if (m.idle > 0) assert.equal(m.waiting, 0, "nobody waits while a connection is idle");
      assert.ok(
        m.waiting <= m.connecting || m.openConnections === m.maxOpenConnections ||
          this.#mayBackOff(),
        `a waiter stalls with a free slot: ${JSON.stringify(m)}`,
      );
    } else {
      assert.deepEqual([m.waiting, m.idle, m.connecting], [0, 0, 0], "closing");
      if (this.closeStatus === "fulfilled") {
        assert.deepEqual([m.openConnections, m.inUse], [0, 0], "closed");
        assert.equal(driver.live, 0, "every fake connection closed");
        assert.equal(clock.pendingTimers, 0, "no timer left after close");
      } else {
        assert.equal(m.inUse, live.length, "inUse counts the loans while closing");
        assert.ok(
          live.length > 0 && now < this.closeStart + config.closeTimeout,
          "close() resolves once everything is back, or the grace period is over",
        );
      }
    }
  }

  #acquire(timeout: number | undefined, withSignal: boolean, before: PoolMetrics): Call {
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

  /** Checks a fresh loan: first in line, on a usable connection nobody else holds. */
  #lent(call: Call, oldestPending: number): void {
    const { config } = this;
    assert.ok(call.index < oldestPending, `call ${call.index} served before ${oldestPending}`);
    assert.equal(call.abortReason, undefined, "an aborted call is not served");
    assert.equal(call.exhausted, false, "a call the model expected refused was served");
    assert.equal(this.closeStart, undefined, "no loan once close() began");
    const handle = call.value!;
    const fake = this.#fakeOf(handle);
    const at = call.settledAt!;
    assert.ok(!fake.closed, `lent connection ${fake.id} is closed`);
    assert.equal(fake.transaction, "idle", `lent connection ${fake.id} is dirty`);
    assert.ok(
      !this.liveLoans().some((loan) => loan.fake === fake),
      `connection ${fake.id} lent twice`,
    );
    assert.ok(fake.id > this.resetMark, `lent connection ${fake.id}, retired by pool.reset()`);
    if (config.connMaxLifetime > 0) {
      assert.ok(at < this.openedAt.get(fake)! + config.connMaxLifetime, "lent past its lifetime");
    }
    if (config.connMaxIdleTime > 0) {
      assert.ok(at < this.lastUsed.get(fake)! + config.connMaxIdleTime, "lent past idle time");
    }
    this.loans.push({ handle, fake, released: false, revoked: false });
  }

  /** Checks that a rejection is one the commands run could cause. */
  #rejected(call: Call): void {
    const { config } = this;
    const reason = call.reason;
    if (reason instanceof AcquireTimeoutError) {
      assert.ok(call.timeout > 0, "timed out without a timeout");
      assert.equal(reason.timeout, call.timeout);
      assert.equal(call.settledAt, call.since + call.timeout, "timed out at its deadline");
    } else if (reason instanceof PoolExhaustedError) {
      assert.ok(call.exhausted, `call ${call.index} refused, not predicted`);
      assert.equal(call.settledAt, call.since);
    } else if (reason instanceof PoolClosedError) {
      assert.notEqual(this.closeStart, undefined, "PoolClosedError before close()");
    } else if (reason instanceof ConnectTimeoutError) {
      assert.ok(this.gateUsed && config.connectTimeout > 0, "connect timed out unprompted");
    } else if (reason === this.badPassword) {
      assert.ok(this.connectsFailed, "a permanent connect failure fails the waiters");
    } else if (reason !== call.abortReason) {
      assert.fail(`call ${call.index} rejected unexpectedly: ${reason}`);
    }
    assert.ok(!call.exhausted || reason instanceof PoolExhaustedError, "expected refused");
  }

  /** Whether a connect failed recently enough that the pool may still wait to retry. */
  #mayBackOff(): boolean {
    return this.clock.now() - this.lastConnectErrorAt < RETRY_MAX_MS;
  }

  #count(match: (reason: unknown) => boolean): number {
    return this.calls.filter((call) => call.status === "rejected" && match(call.reason)).length;
  }

  /** Every background failure has a cause the commands set up. */
  #checkErrors(): void {
    const expected: Record<PoolErrorEvent, (error: unknown) => boolean> = {
      connect: (e) =>
        ((e === this.refused || e === this.badPassword) && this.connectsFailed) ||
        (e instanceof ConnectTimeoutError && this.gateUsed),
      healthCheck: (e) => e === this.pingFailure,
      validation: (e) => e === this.pingFailure,
      reset: (e) => e === this.resetFailure,
      connectionLost: (e) => e === this.death,
      close: () => false,
      // The model's driver classifies no error as the server's.
      failover: () => false,
      leak: () => false,
      // The model registers no observer.
      observer: () => false,
    };
    for (; this.#errorsChecked < this.errors.length; this.#errorsChecked++) {
      const [error, event] = this.errors[this.#errorsChecked];
      assert.ok(expected[event](error), `unexpected onError(${error}, "${event}")`);
    }
  }

  /** An idle connection outlives its limits by at most one sweep period. */
  #withinLimits(fake: FakeConnection, now: number): void {
    const { connMaxLifetime, connMaxIdleTime } = this.config;
    const shortest = Math.min(connMaxIdleTime || Infinity, connMaxLifetime || Infinity);
    if (shortest === Infinity) return;
    const period = Math.min(60_000, Math.max(1_000, shortest / 4));
    if (connMaxLifetime > 0) {
      assert.ok(
        now < this.openedAt.get(fake)! + connMaxLifetime + period,
        `idle connection ${fake.id} outlived its lifetime by a sweep period`,
      );
    }
    if (connMaxIdleTime > 0) {
      assert.ok(
        now < this.lastUsed.get(fake)! + connMaxIdleTime + period,
        `idle connection ${fake.id} outlived its idle time by a sweep period`,
      );
    }
  }

  /** The fake behind a loan: runs a tagged statement (recorded at once) and looks. */
  #fakeOf(handle: PoolConnection): FakeConnection {
    const tag = `select 'model ${++tags}'`;
    handle.execute(tag).catch(() => {});
    const found = this.driver.connections.filter((fake) => fake.queries.at(-1) === tag);
    assert.equal(found.length, 1, "the tagged statement ran on one connection");
    return found[0];
  }

  #release(loan: Loan): void {
    loan.released = true;
    this.lastUsed.set(loan.fake, this.clock.now());
    loan.handle.release();
    assert.ok(loan.handle.released);
  }

  #openGate(): void {
    this.gate?.resolve();
    this.gate = undefined;
    this.driver.connectGate = undefined;
  }

  #close(): void {
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

function choose<T>(candidates: T[], pick: number): T | undefined {
  return candidates.length === 0 ? undefined : candidates[pick % candidates.length];
}
