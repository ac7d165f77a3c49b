/**
 * The checks of the model-based test: after each command, the pool against
 * the model of what its callers hold, and against its own invariants.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PoolErrorEvent } from "../../src/errors.ts";
import {
  AcquireTimeoutError,
  ConnectionLeakError,
  ConnectTimeoutError,
  PoolClosedError,
  PoolError,
  PoolExhaustedError,
  QueryTimeoutError,
} from "../../src/errors.ts";
import type { FakeConnection } from "../support/fake_driver.ts";
import { assertConsistent } from "../support/pool_helpers.ts";
import type { Call, Exec, ModelState } from "./_model_state.ts";

/** Checks the pool against the model and its invariants, after reactions settled. */
export function checkModel(model: ModelState): void {
  const { pool, driver, clock, config } = model;
  const m = pool.getMetrics();
  const now = clock.now();
  assertConsistent(pool);
  assert.ok(m.idle <= config.maxIdleConns, `${m.idle} idle, above maxIdleConns`);
  const hung = driver.connections.filter((fake) => fake.hangPings && !fake.closed).length;
  assert.ok(m.checking <= hung, "only a connection whose pings hang stays in a check");
  assert.ok(m.connecting <= (config.maxConnecting ?? 4), `${m.connecting} connecting at once`);
  if (model.closeStatus === "fulfilled") {
    for (const loan of model.liveLoans()) loan.revoked = true;
  }

  if (m.connectErrors > model.connectErrorsSeen) {
    model.connectErrorsSeen = m.connectErrors;
    model.lastConnectErrorAt = now;
  }
  const oldestPending = model.pending()[0]?.index ?? Infinity;
  for (const call of model.calls) {
    if (call.checked || call.status === "pending") continue;
    call.checked = true;
    if (call.status === "fulfilled") lent(model, call, oldestPending);
    else rejected(model, call);
  }
  const shared = model.sharedFakes();
  for (const exec of model.execs) {
    if (exec.checked || exec.status === "pending") continue;
    exec.checked = true;
    if (exec.status === "rejected") execRejected(model, exec);
    else assert.notEqual(exec.fake, undefined, `execute ${exec.index} ran on no connection`);
  }
  const sent = model.execs.filter((exec) => exec.fake !== undefined).length;
  assert.equal(
    m.acquireCount,
    model.loans.length + sent + model.transactions,
    "acquireCount counts every loan, statement sent and transaction",
  );
  assert.equal(m.acquireTimeouts, model.count((e) => e instanceof AcquireTimeoutError));
  assert.equal(m.acquireRejections, model.count((e) => e instanceof PoolExhaustedError));
  assert.equal(m.poolResets, model.resets);
  assert.ok(m.connectionsCreated <= driver.connections.length);
  if (model.closeStart === undefined) {
    assert.equal(m.connectionsCreated, driver.connections.length);
  }
  checkErrors(model);

  const live = model.liveLoans();
  const held = new Set(live.map((loan) => loan.fake));
  assert.equal(held.size, live.length, "no connection is lent to two callers at once");
  for (const fake of shared) {
    assert.ok(!held.has(fake), `connection ${fake.id} is lent and carries pipelined statements`);
  }
  // Callers' statements only: the fake keeps a statement whose caller timed out in line, where
  // the server would have ended it on the pool's cancel request.
  const perFake = new Map<FakeConnection, number>();
  for (const exec of model.execs) {
    if (exec.status === "pending" && exec.fake) {
      perFake.set(exec.fake, (perFake.get(exec.fake) ?? 0) + 1);
    }
  }
  for (const [fake, n] of perFake) {
    assert.ok(n <= Math.max(1, config.maxPipeline), `${n} statements on connection ${fake.id}`);
  }
  const deadHeld = live.filter((loan) => loan.fake.closed).length;
  assert.equal(
    m.openConnections,
    m.connecting + driver.live + deadHeld,
    "the pool counts every open fake connection, and the dead ones still lent",
  );
  const pending = model.pending();
  assert.equal(
    m.waiting,
    pending.length + model.waitingExecs().length,
    "waiting counts the pending calls and the executes not sent yet",
  );
  for (const call of pending) {
    assert.ok(
      call.timeout === 0 || now < call.since + call.timeout,
      `call ${call.index} still pending past its ${call.timeout} ms timeout`,
    );
  }
  const idle = model.idleFakes();
  for (const fake of idle) {
    assert.equal(fake.transaction, "idle", `idle connection ${fake.id} is dirty`);
    // One whose ping hangs may be in a check, which ends by checkTimeout.
    if (!fake.hangPings) withinLimits(model, fake, now);
  }

  if (model.closeStart === undefined) {
    assert.equal(m.inUse, live.length + shared.size, "inUse counts loans and shared connections");
    assert.equal(m.idle + m.checking, idle.length, "idle counts the open fakes nobody holds");
    if (model.gate === undefined) assert.equal(m.connecting, 0, "no connect hangs without a gate");
    if (m.idle > 0) assert.equal(m.waiting, 0, "nobody waits while a connection is idle");
    assert.ok(
      m.waiting <= m.connecting + m.checking || m.openConnections === m.maxOpenConnections ||
        m.connecting === (config.maxConnecting ?? 4) || model.mayBackOff(),
      `a waiter stalls with a free slot: ${JSON.stringify(m)}`,
    );
    checkLeaks(model, now);
  } else {
    assert.deepEqual([m.waiting, m.idle, m.connecting], [0, 0, 0], "closing");
    if (model.closeStatus === "fulfilled") {
      assert.deepEqual([m.openConnections, m.inUse], [0, 0], "closed");
      assert.equal(driver.live, 0, "every fake connection closed");
      assert.equal(clock.pendingTimers, 0, "no timer left after close");
    } else {
      assert.equal(m.inUse, live.length + shared.size, "inUse counts what is held, closing");
      assert.ok(
        live.length + shared.size > 0 && now < model.closeStart + config.closeTimeout,
        "close() resolves once everything is back, or the grace period is over",
      );
    }
  }
}

/** Checks a fresh loan: first in line, on a usable connection nobody else holds. */
function lent(model: ModelState, call: Call, oldestPending: number): void {
  const { config } = model;
  assert.ok(call.index < oldestPending, `call ${call.index} served before ${oldestPending}`);
  assert.equal(call.abortReason, undefined, "an aborted call is not served");
  assert.equal(call.exhausted, false, "a call the model expected refused was served");
  assert.equal(model.closeStart, undefined, "no loan once close() began");
  const handle = call.value!;
  const fake = model.fakeOf(handle);
  const at = call.settledAt!;
  assert.ok(!fake.closed, `lent connection ${fake.id} is closed`);
  assert.equal(fake.transaction, "idle", `lent connection ${fake.id} is dirty`);
  assert.ok(
    !model.liveLoans().some((loan) => loan.fake === fake),
    `connection ${fake.id} lent twice`,
  );
  assert.ok(fake.id > model.resetMark, `lent connection ${fake.id}, retired by pool.reset()`);
  assert.ok(!model.sharedFakes().has(fake), `lent connection ${fake.id} carries statements`);
  if (config.connMaxLifetime > 0) {
    assert.ok(at < model.openedAt.get(fake)! + config.connMaxLifetime, "lent past its lifetime");
  }
  if (config.connMaxIdleTime > 0) {
    assert.ok(at < model.lastUsed.get(fake)! + config.connMaxIdleTime, "lent past idle time");
  }
  model.loans.push({
    handle,
    fake,
    lentAt: at,
    releasedAt: undefined,
    released: false,
    revoked: false,
  });
}

/** Checks that a rejection is one the commands run could cause. */
function rejected(model: ModelState, call: Call): void {
  const { config } = model;
  const reason = call.reason;
  if (reason instanceof AcquireTimeoutError) {
    assert.ok(call.timeout > 0, "timed out without a timeout");
    assert.equal(reason.timeout, call.timeout);
    assert.equal(call.settledAt, call.since + call.timeout, "timed out at its deadline");
  } else if (reason instanceof PoolExhaustedError) {
    assert.ok(call.refusable, `call ${call.index} refused, not predicted`);
    assert.equal(call.settledAt, call.since);
  } else if (reason instanceof PoolClosedError) {
    assert.notEqual(model.closeStart, undefined, "PoolClosedError before close()");
  } else if (reason instanceof ConnectTimeoutError) {
    assert.ok(model.gateUsed && config.connectTimeout > 0, "connect timed out unprompted");
  } else if (reason === model.badPassword) {
    assert.ok(model.connectsFailed, "a permanent connect failure fails the waiters");
  } else if (reason !== call.abortReason) {
    assert.fail(`call ${call.index} rejected unexpectedly: ${reason}`);
  }
  assert.ok(!call.exhausted || reason instanceof PoolExhaustedError, "expected refused");
}

/** Checks that a failed `pool.execute()` is one the commands run could cause. */
function execRejected(model: ModelState, exec: Exec): void {
  const { config } = model;
  const reason = exec.reason;
  const waited = exec.settledAt! - exec.since;
  if (reason instanceof AcquireTimeoutError) {
    assert.equal(exec.fake, undefined, "a statement sent cannot time out waiting");
    assert.ok(waited >= reason.timeout && reason.timeout > 0, "timed out before its deadline");
  } else if (reason instanceof QueryTimeoutError) {
    assert.ok(exec.timeout > 0 && waited >= exec.timeout, "statement timed out early");
  } else if (reason instanceof PoolExhaustedError) {
    assert.ok(config.maxWaiting !== undefined && waited === 0, "refused without maxWaiting");
  } else if (reason instanceof PoolClosedError) {
    assert.notEqual(model.closeStart, undefined, "PoolClosedError before close()");
  } else if (reason instanceof ConnectTimeoutError) {
    assert.ok(model.gateUsed && config.connectTimeout > 0, "connect timed out unprompted");
  } else if (reason === model.badPassword) {
    assert.ok(model.connectsFailed, "a permanent connect failure fails the waiters");
  } else if (reason === model.death) {
    assert.equal(exec.fake?.closeError, model.death, "failed with a death not its connection's");
  } else {
    // close() closed its connection under it once the grace period was over.
    assert.ok(
      model.closeStart !== undefined && exec.fake?.closed,
      `execute ${exec.index} rejected unexpectedly: ${reason}`,
    );
  }
}

/**
 * Before close(), the pool has reported as leaks exactly the loans held
 * past `leakDetectionThreshold` (one held exactly that long may go either way).
 */
function checkLeaks(model: ModelState, now: number): void {
  const threshold = model.config.leakDetectionThreshold;
  if (threshold === 0) return;
  const reported = model.errors.filter(([, event]) => event === "leak").length;
  const held = model.loans.map((loan) => (loan.releasedAt ?? now) - loan.lentAt);
  const past = held.filter((ms) => ms > threshold).length;
  const reached = held.filter((ms) => ms >= threshold).length;
  assert.ok(
    past <= reported && reported <= reached,
    `${reported} leaks reported, ${past} loans held past ${threshold} ms, ${reached} reached it`,
  );
}

/** Every background failure has a cause the commands set up. */
function checkErrors(model: ModelState): void {
  const expected: Record<PoolErrorEvent, (error: unknown) => boolean> = {
    connect: (e) =>
      ((e === model.refused || e === model.badPassword) && model.connectsFailed) ||
      (e instanceof ConnectTimeoutError && model.gateUsed),
    // A connection may die while its ping hangs.
    healthCheck: (e) => e === model.pingFailure || checkTimedOut(e) || e === model.death,
    validation: (e) => e === model.pingFailure || checkTimedOut(e) || e === model.death,
    reset: (e) => e === model.resetFailure,
    connectionLost: (e) => e === model.death,
    close: () => false,
    // The model's driver classifies no error as the server's.
    failover: () => false,
    leak: (e) =>
      e instanceof ConnectionLeakError && e.threshold === model.config.leakDetectionThreshold,
    // The model registers no observer.
    observer: () => false,
    // The model's pool has no circuit breaker.
    circuit: () => false,
  };
  const checkTimedOut = (e: unknown) =>
    model.pingsHung && e instanceof PoolError && e.code === "CHECK_TIMEOUT";
  for (; model.errorsChecked < model.errors.length; model.errorsChecked++) {
    const [error, event] = model.errors[model.errorsChecked];
    assert.ok(expected[event](error), `unexpected onError(${error}, "${event}")`);
  }
}

/** An idle connection outlives its limits by at most one sweep period. */
function withinLimits(model: ModelState, fake: FakeConnection, now: number): void {
  const { connMaxLifetime, connMaxIdleTime } = model.config;
  const shortest = Math.min(connMaxIdleTime || Infinity, connMaxLifetime || Infinity);
  if (shortest === Infinity) return;
  const period = Math.min(60_000, Math.max(1_000, shortest / 4));
  if (connMaxLifetime > 0) {
    assert.ok(
      now < model.openedAt.get(fake)! + connMaxLifetime + period,
      `idle connection ${fake.id} outlived its lifetime by a sweep period`,
    );
  }
  if (connMaxIdleTime > 0) {
    assert.ok(
      now < model.lastUsed.get(fake)! + connMaxIdleTime + period,
      `idle connection ${fake.id} outlived its idle time by a sweep period`,
    );
  }
}
