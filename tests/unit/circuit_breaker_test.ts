/**
 * The circuit breaker: its state machine alone, then in the pool on a fake
 * driver and a manual clock (backoff with `random()` 0: 50, 100, 200 ms...).
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CircuitOpenError, PoolClosedError } from "../../src/errors.ts";
import { CircuitBreaker } from "../../src/_core/circuit_breaker.ts";
import { zeroCounters } from "../../src/_core/counters.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";

const refused = new Error("connect ECONNREFUSED 127.0.0.1:1");

/** Asserts `error` is a CircuitOpenError in `state` whose cause is `cause`. */
function assertCircuitOpen(error: unknown, cause: unknown, state = "open"): void {
  assert.ok(error instanceof CircuitOpenError, `${error} is not a CircuitOpenError`);
  assert.equal(error.code, "CIRCUIT_OPEN");
  assert.equal(error.state, state);
  assert.equal(error.cause, cause);
}

/** The states the pool told onError as "circuit" events, in order. */
function circuitEvents(errors: [unknown, string][]): string[] {
  return errors.filter(([, event]) => event === "circuit").map(([error]) =>
    (error as CircuitOpenError).state
  );
}

describe("the circuit breaker's state machine", () => {
  it("opens at the threshold of failures with no connection open, counting one opening", () => {
    const counters = zeroCounters();
    const breaker = new CircuitBreaker(3, counters);
    assert.equal(breaker.failed(refused, true), false);
    assert.equal(breaker.failed(refused, true), false);
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.failed(refused, true), true);
    assert.equal(breaker.state, "open");
    assert.equal(breaker.failed(refused, true), false, "a late failure while open changes nothing");
    assert.equal(counters.circuitOpens, 1);
    assert.equal(breaker.lastError, refused);
  });

  it("does not count failures while a connection is open, and a success starts the count over", () => {
    const breaker = new CircuitBreaker(2, zeroCounters());
    breaker.failed(refused, false);
    breaker.failed(refused, false);
    assert.equal(breaker.state, "closed");
    breaker.failed(refused, true);
    breaker.succeeded();
    breaker.failed(refused, true);
    assert.equal(breaker.state, "closed");
    breaker.failed(refused, true);
    assert.equal(breaker.state, "open");
  });

  it("half-opens only from open, reopens on a failed probe and closes on a good one", () => {
    const counters = zeroCounters();
    const breaker = new CircuitBreaker(1, counters);
    assert.equal(breaker.probe(), false, "a closed breaker has nothing to probe");
    breaker.failed(refused, true);
    assert.equal(breaker.probe(), true);
    assert.equal(breaker.state, "halfOpen");
    assert.equal(breaker.refusing, true);
    assert.equal(breaker.failed(refused, true), true);
    assert.equal(breaker.state, "open");
    assert.equal(counters.circuitOpens, 1, "a failed probe is no new opening");
    breaker.probe();
    assert.equal(breaker.succeeded(), true);
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.refusing, false);
    assert.equal(breaker.lastError, undefined);
    assert.equal(breaker.succeeded(), false, "closing a closed breaker is no change");
  });

  it("never opens with a threshold of 0", () => {
    const breaker = new CircuitBreaker(0, zeroCounters());
    for (let i = 0; i < 100; i++) assert.equal(breaker.failed(refused, true), false);
    assert.equal(breaker.state, "closed");
  });

  it("counts each refusal, with the last failure as the refusal's cause", () => {
    const counters = zeroCounters();
    const breaker = new CircuitBreaker(1, counters);
    breaker.failed(refused, true);
    assertCircuitOpen(breaker.refuse(), refused);
    breaker.refuse();
    assert.equal(counters.circuitRejections, 2);
  });
});

describe("the circuit breaker in the pool", () => {
  it("opens after breakerThreshold failed connects, then refuses every call at once", async () => {
    const h = harness({ breakerThreshold: 3, maxConnecting: 1, acquireTimeout: 60_000 });
    h.driver.failConnects(100, refused);
    const first = observe(h.pool.getConnection());
    await flush();
    await h.clock.advanceAsync(50 + 100);
    assert.equal(h.driver.connects, 3);
    assert.equal(first.status, "rejected", "the waiter is failed when the breaker opens");
    assertCircuitOpen(first.reason, refused);
    await assert.rejects(h.pool.getConnection(), (e) => (assertCircuitOpen(e, refused), true));
    await assert.rejects(h.pool.execute("select 1"), CircuitOpenError);
    await assert.rejects(h.pool.beginTx(), CircuitOpenError);
    await assert.rejects(h.pool.transaction(() => 1), CircuitOpenError);
    const m = h.pool.getMetrics();
    assert.equal(m.circuitState, "open");
    assert.equal(m.circuitOpens, 1);
    assert.equal(m.circuitRejections, 5);
    assert.equal(m.acquireTimeouts, 0);
    assert.equal(h.driver.connects, 3, "refused calls start no connect");
    assert.deepEqual(circuitEvents(h.errors), ["open"]);
    assertConsistent(h.pool, h.driver);
    await h.pool.close();
  });

  it("refuses a pipelined execute too", async () => {
    const h = harness({ breakerThreshold: 1 });
    h.driver.pipelinable = () => true;
    h.driver.failConnects(1, refused);
    await assert.rejects(h.pool.getConnection(), CircuitOpenError);
    await assert.rejects(h.pool.execute("select 1"), CircuitOpenError);
    await h.pool.close();
  });

  it("sends one probe per backoff while half-open, and closes on the first that succeeds", async () => {
    const h = harness({ breakerThreshold: 2, maxConnecting: 4 });
    h.driver.failConnects(3, refused);
    observe(h.pool.getConnection());
    observe(h.pool.getConnection());
    await flush();
    assert.equal(h.pool.getMetrics().circuitState, "open");
    assert.equal(h.driver.connects, 2);
    // The first backoff (50 ms) ends: one probe, which fails.
    await h.clock.advanceAsync(50);
    assert.equal(h.driver.connects, 3);
    assert.equal(h.pool.getMetrics().circuitState, "open");
    // The next (100 ms): another probe, and only it, while callers are refused.
    h.driver.connectGate = new Promise(() => {});
    await h.clock.advanceAsync(99);
    assert.equal(h.driver.connects, 3, "no probe before the backoff ends");
    await h.clock.advanceAsync(1);
    assert.equal(h.driver.connects, 4);
    assert.equal(h.pool.getMetrics().circuitState, "halfOpen");
    for (let i = 0; i < 5; i++) {
      await assert.rejects(
        h.pool.getConnection(),
        (e) => (assertCircuitOpen(e, refused, "halfOpen"), true),
      );
    }
    assert.equal(h.driver.connects, 4, "the probe is the only connect");
    assert.equal(h.pool.getMetrics().connecting, 1);
    // Let the hung probe time out (10 s), then a good one through.
    h.driver.connectGate = undefined;
    await h.clock.advanceAsync(10_000 + 200);
    assert.equal(h.pool.getMetrics().circuitState, "closed");
    const connection = await h.pool.getConnection();
    connection.release();
    assert.deepEqual(circuitEvents(h.errors), [
      "open",
      "halfOpen",
      "open",
      "halfOpen",
      "open",
      "halfOpen",
      "closed",
    ]);
    assert.equal(h.pool.getMetrics().circuitOpens, 1);
    assertConsistent(h.pool, h.driver);
    await h.pool.close();
  });

  it("lets a connect still in flight from before the breaker opened be the probe", async () => {
    const h = harness({ breakerThreshold: 1, connectTimeout: 1_000 });
    h.driver.connectGate = new Promise(() => {});
    const first = observe(h.pool.getConnection());
    h.driver.connectGate = undefined;
    h.driver.failConnects(1, refused);
    const second = observe(h.pool.getConnection());
    await flush();
    assert.equal(h.pool.getMetrics().circuitState, "open");
    assert.equal(first.status, "rejected");
    assert.equal(second.status, "rejected");
    await h.clock.advanceAsync(50);
    assert.equal(h.pool.getMetrics().circuitState, "halfOpen");
    assert.equal(h.driver.connects, 2, "no second probe beside the hung connect");
    assert.equal(h.pool.getMetrics().connecting, 1);
    // The hung connect times out: it was the probe, so the breaker opens again.
    await h.clock.advanceAsync(950);
    assert.equal(h.pool.getMetrics().circuitState, "open");
    assert.equal(h.pool.getMetrics().connecting, 0);
    await h.pool.close();
  });

  it("counts no failure while a connection is open", async () => {
    const h = harness({ breakerThreshold: 2, acquireTimeout: 60_000 });
    const held = await h.pool.getConnection();
    h.driver.failConnects(100, refused);
    const waiter = observe(h.pool.getConnection());
    await h.clock.advanceAsync(2_000);
    assert.ok(h.driver.connects >= 5, `${h.driver.connects} connects`);
    assert.equal(h.pool.getMetrics().circuitState, "closed");
    assert.equal(waiter.status, "pending");
    held.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    waiter.value!.release();
    assert.equal(h.pool.getMetrics().circuitRejections, 0);
    await h.pool.close();
  });

  it("opens on failures the driver deems permanent too, and probes on the backoff", async () => {
    const h = harness({ breakerThreshold: 2 });
    const badPassword = new Error("password authentication failed");
    h.driver.permanentErrors.add(badPassword);
    h.driver.failConnects(2, badPassword);
    await assert.rejects(h.pool.getConnection(), (e) => e === badPassword);
    await assert.rejects(h.pool.getConnection(), (e) => e === badPassword);
    await assert.rejects(h.pool.getConnection(), (e) => (assertCircuitOpen(e, badPassword), true));
    await h.clock.advanceAsync(50);
    assert.equal(h.driver.connects, 3, "one probe after the backoff");
    assert.equal(h.pool.getMetrics().circuitState, "closed");
    await h.pool.close();
  });

  it("stays off with breakerThreshold 0: waiters wait out their timeout", async () => {
    const h = harness({ breakerThreshold: 0, acquireTimeout: 1_000 });
    h.driver.failConnects(100, refused);
    const waiter = observe(h.pool.getConnection());
    await h.clock.advanceAsync(1_000);
    assert.equal(waiter.status, "rejected");
    assert.equal((waiter.reason as { code?: string }).code, "ACQUIRE_TIMEOUT");
    assert.equal(h.pool.getMetrics().circuitState, "closed");
    assert.equal(h.pool.getMetrics().circuitOpens, 0);
    await h.pool.close();
  });

  it("closes while open: refuses with PoolClosedError and leaves no timer", async () => {
    const h = harness({ breakerThreshold: 1 });
    h.driver.failConnects(1, refused);
    await assert.rejects(h.pool.getConnection(), CircuitOpenError);
    assert.ok(h.clock.pendingTimers > 0, "the backoff runs");
    await h.pool.close();
    assert.equal(h.clock.pendingTimers, 0);
    await assert.rejects(h.pool.getConnection(), PoolClosedError);
    assert.equal(h.driver.connects, 1);
  });

  it("closes while a probe is in flight without reporting its abort", async () => {
    const h = harness({ breakerThreshold: 1 });
    h.driver.failConnects(1, refused);
    await assert.rejects(h.pool.getConnection(), CircuitOpenError);
    h.driver.connectGate = new Promise(() => {});
    await h.clock.advanceAsync(50);
    assert.equal(h.pool.getMetrics().circuitState, "halfOpen");
    await h.pool.close();
    assert.deepEqual(circuitEvents(h.errors), ["open", "halfOpen"]);
    assert.equal(h.clock.pendingTimers, 0);
    assert.equal(h.pool.getMetrics().connecting, 0);
  });
});
