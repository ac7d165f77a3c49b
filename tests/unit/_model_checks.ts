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
  ConnectTimeoutError,
  PoolClosedError,
  PoolExhaustedError,
} from "../../src/errors.ts";
import type { FakeConnection } from "../support/fake_driver.ts";
import { assertConsistent } from "../support/pool_helpers.ts";
import type { Call, ModelState } from "./_model_state.ts";

/** Checks the pool against the model and its invariants, after reactions settled. */
export function checkModel(model: ModelState): void {
  const { pool, driver, clock, config } = model;
  const m = pool.getMetrics();
  const now = clock.now();
  assertConsistent(pool);
  assert.ok(m.idle <= config.maxIdleConns, `${m.idle} idle, above maxIdleConns`);
  assert.equal(m.checking, 0, "the fake answers pings and rollbacks at once");
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
  assert.equal(m.acquireCount, model.loans.length, "acquireCount counts every loan");
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
  const deadHeld = live.filter((loan) => loan.fake.closed).length;
  assert.equal(
    m.openConnections,
    m.connecting + driver.live + deadHeld,
    "the pool counts every open fake connection, and the dead ones still lent",
  );
  const pending = model.pending();
  assert.equal(m.waiting, pending.length, "waiting counts the pending calls");
  for (const call of pending) {
    assert.ok(
      call.timeout === 0 || now < call.since + call.timeout,
      `call ${call.index} still pending past its ${call.timeout} ms timeout`,
    );
  }
  const idle = model.idleFakes();
  for (const fake of idle) {
    assert.equal(fake.transaction, "idle", `idle connection ${fake.id} is dirty`);
    withinLimits(model, fake, now);
  }

  if (model.closeStart === undefined) {
    assert.equal(m.inUse, live.length, "inUse counts the loans");
    assert.equal(m.idle, idle.length, "idle counts the open fakes nobody holds");
    if (model.gate === undefined) assert.equal(m.connecting, 0, "no connect hangs without a gate");
    if (m.idle > 0) assert.equal(m.waiting, 0, "nobody waits while a connection is idle");
    assert.ok(
      m.waiting <= m.connecting || m.openConnections === m.maxOpenConnections ||
        model.mayBackOff(),
      `a waiter stalls with a free slot: ${JSON.stringify(m)}`,
    );
  } else {
    assert.deepEqual([m.waiting, m.idle, m.connecting], [0, 0, 0], "closing");
    if (model.closeStatus === "fulfilled") {
      assert.deepEqual([m.openConnections, m.inUse], [0, 0], "closed");
      assert.equal(driver.live, 0, "every fake connection closed");
      assert.equal(clock.pendingTimers, 0, "no timer left after close");
    } else {
      assert.equal(m.inUse, live.length, "inUse counts the loans while closing");
      assert.ok(
        live.length > 0 && now < model.closeStart + config.closeTimeout,
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
  if (config.connMaxLifetime > 0) {
    assert.ok(at < model.openedAt.get(fake)! + config.connMaxLifetime, "lent past its lifetime");
  }
  if (config.connMaxIdleTime > 0) {
    assert.ok(at < model.lastUsed.get(fake)! + config.connMaxIdleTime, "lent past idle time");
  }
  model.loans.push({ handle, fake, released: false, revoked: false });
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
    assert.ok(call.exhausted, `call ${call.index} refused, not predicted`);
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

/** Every background failure has a cause the commands set up. */
function checkErrors(model: ModelState): void {
  const expected: Record<PoolErrorEvent, (error: unknown) => boolean> = {
    connect: (e) =>
      ((e === model.refused || e === model.badPassword) && model.connectsFailed) ||
      (e instanceof ConnectTimeoutError && model.gateUsed),
    healthCheck: (e) => e === model.pingFailure,
    validation: (e) => e === model.pingFailure,
    reset: (e) => e === model.resetFailure,
    connectionLost: (e) => e === model.death,
    close: () => false,
    // The model's driver classifies no error as the server's.
    failover: () => false,
    leak: () => false,
    // The model registers no observer.
    observer: () => false,
    // The model's pool has no circuit breaker.
    circuit: () => false,
  };
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
