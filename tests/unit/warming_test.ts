/**
 * Warming (`minIdleConns`) and `pool.ready()`, on a fake driver and a
 * manual clock (backoff with `random()` 0: 50, 100, 200 ms...).
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import { PoolClosedError, PoolNotReadyError } from "../../src/errors.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { assertConsistent, type Harness, harness, observe } from "../support/pool_helpers.ts";

const refused = new Error("connect ECONNREFUSED 127.0.0.1:1");

/**
 * As {@linkcode harness}, but `prepare` sets the driver's knobs before the
 * pool exists: a warming pool connects in its constructor.
 */
function warmHarness(
  options: Partial<PoolOptions>,
  prepare: (driver: FakeDriver) => void,
): Harness {
  const driver = new FakeDriver();
  prepare(driver);
  const clock = new ManualClock();
  const errors: Harness["errors"] = [];
  const pool = new ConnectionPool({
    driver,
    clock,
    healthInterval: 0,
    connMaxLifetime: 0,
    connMaxIdleTime: 0,
    validateAfterIdle: 0,
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  return { pool, driver, clock, errors };
}

/** Asserts `error` is a PoolNotReadyError for `wanted` connections, `cause` its cause. */
function assertNotReady(error: unknown, wanted: number, cause: unknown): void {
  assert.ok(error instanceof PoolNotReadyError, `${error} is not a PoolNotReadyError`);
  assert.equal(error.code, "NOT_READY");
  assert.equal(error.wanted, wanted);
  assert.equal(error.cause, cause);
}

describe("minIdleConns", () => {
  it("opens that many connections from creation on, at most maxConnecting at a time", async () => {
    const h = harness({ minIdleConns: 5, maxConnecting: 2 });
    h.driver.connectGate = new Promise(() => {});
    assert.equal(h.pool.getMetrics().connecting, 2, "connects start in the constructor");
    await h.pool.close();

    const g = harness({ minIdleConns: 5, maxConnecting: 2 });
    await flush();
    const m = g.pool.getMetrics();
    assert.equal(m.idle, 5);
    assert.equal(m.connectionsCreated, 5);
    assertConsistent(g.pool, g.driver);
    await g.pool.close();
  });

  it("opens none with the default of 0", async () => {
    const h = harness();
    await flush();
    assert.equal(h.driver.connects, 0);
    await h.pool.close();
  });

  it("replaces idle connections as they are lent, within maxOpenConns", async () => {
    const h = harness({ minIdleConns: 2, maxOpenConns: 3 });
    await flush();
    const first = await h.pool.getConnection();
    await flush();
    assert.equal(h.pool.getMetrics().idle, 2);
    const second = await h.pool.getConnection();
    await flush();
    assert.equal(h.pool.getMetrics().idle, 1, "maxOpenConns caps the warming");
    assert.equal(h.pool.getMetrics().openConnections, 3);
    first.release();
    second.release();
    assertConsistent(h.pool, h.driver);
    await h.pool.close();
  });

  it("reopens after a close by lifetime, death and reset", async () => {
    const h = harness({ minIdleConns: 2, connMaxLifetime: 10_000, connMaxLifetimeJitter: 0 });
    await flush();
    assert.equal(h.driver.connects, 2);
    h.driver.connections[0].die();
    await flush();
    assert.equal(h.pool.getMetrics().idle, 2, "a dead connection is replaced");
    assert.equal(h.driver.connects, 3);
    h.pool.reset();
    await flush();
    assert.equal(h.pool.getMetrics().idle, 2, "connections retired by reset() are replaced");
    assert.equal(h.driver.connects, 5);
    await h.clock.advanceAsync(10_000 + 2_500);
    assert.equal(h.pool.getMetrics().maxLifetimeClosed, 2);
    assert.equal(h.pool.getMetrics().idle, 2, "expired connections are replaced");
    assertConsistent(h.pool, h.driver);
    await h.pool.close();
  });

  it("keeps minIdleConns when connMaxIdleTime retires idle connections", async () => {
    const h = harness({ minIdleConns: 2, connMaxIdleTime: 10_000 });
    const held = await Promise.all([1, 2, 3, 4].map(() => h.pool.getConnection()));
    await flush();
    for (const connection of held) connection.release();
    const idle = h.pool.getMetrics().idle;
    assert.ok(idle >= 4, `${idle} idle`);
    const connects = h.driver.connects;
    await h.clock.advanceAsync(20_000);
    const m = h.pool.getMetrics();
    assert.equal(m.idle, 2);
    assert.equal(m.maxIdleTimeClosed, idle - 2);
    assert.equal(h.driver.connects, connects, "the two kept are not churned");
    await h.pool.close();
  });

  it("waits out the connect backoff before trying again", async () => {
    const h = warmHarness(
      { minIdleConns: 1, breakerThreshold: 0 },
      (driver) => driver.failConnects(2, refused),
    );
    await flush();
    assert.equal(h.driver.connects, 1);
    await h.clock.advanceAsync(49);
    assert.equal(h.driver.connects, 1, "no connect during the first backoff");
    await h.clock.advanceAsync(1);
    assert.equal(h.driver.connects, 2);
    await h.clock.advanceAsync(100);
    assert.equal(h.driver.connects, 3);
    assert.equal(h.pool.getMetrics().idle, 1);
    assert.deepEqual(h.errors.map(([, event]) => event), ["connect", "connect"]);
    await h.pool.close();
  });
});

describe("pool.ready()", () => {
  it("resolves once minIdleConns connections are open", async () => {
    const h = harness({ minIdleConns: 3, maxConnecting: 1 });
    const ready = observe(h.pool.ready());
    await flush();
    assert.equal(ready.status, "fulfilled");
    assert.equal(h.pool.getMetrics().openConnections, 3);
    await h.pool.ready();
    await h.pool.close();
  });

  it("opens one connection when minIdleConns is 0, and keeps it idle", async () => {
    const h = harness();
    await h.pool.ready();
    const m = h.pool.getMetrics();
    assert.equal(m.idle, 1);
    assert.equal(m.acquireCount, 0, "no loan is counted");
    await h.pool.ready();
    assert.equal(h.driver.connects, 1);
    await h.pool.close();
  });

  it("rejects at once when a connect fails for good, with the failure as cause", async () => {
    const badPassword = new Error("password authentication failed");
    const h = warmHarness({ minIdleConns: 2 }, (driver) => {
      driver.permanentErrors.add(badPassword);
      driver.failConnects(2, badPassword);
    });
    await assert.rejects(h.pool.ready({ timeout: 60_000 }), (e) => {
      assertNotReady(e, 2, badPassword);
      assert.match((e as Error).message, /password authentication failed/);
      return true;
    });
    await h.pool.close();
  });

  it("rejects when the circuit breaker opens, with the connect failure as cause", async () => {
    const h = harness({ breakerThreshold: 2, maxConnecting: 1 });
    h.driver.failConnects(100, refused);
    const ready = observe(h.pool.ready({ timeout: 60_000 }));
    await h.clock.advanceAsync(50);
    assert.equal(ready.status, "rejected");
    assertNotReady(ready.reason, 1, refused);
    // While the breaker is open, at once.
    await assert.rejects(h.pool.ready(), (e) => (assertNotReady(e, 1, refused), true));
    await h.pool.close();
  });

  it("rejects at its timeout while connects keep failing, with the last as cause", async () => {
    const h = harness({ breakerThreshold: 0 });
    h.driver.failConnects(100, refused);
    const ready = observe(h.pool.ready({ timeout: 1_000 }));
    await h.clock.advanceAsync(999);
    assert.equal(ready.status, "pending");
    await h.clock.advanceAsync(1);
    assert.equal(ready.status, "rejected");
    assertNotReady(ready.reason, 1, refused);
    await h.pool.close();
  });

  it("rejects with the signal's reason, and with PoolClosedError when the pool closes", async () => {
    const h = harness();
    h.driver.connectGate = new Promise(() => {});
    const controller = new AbortController();
    const aborted = observe(h.pool.ready({ signal: controller.signal, timeout: 0 }));
    const closed = observe(h.pool.ready({ timeout: 0 }));
    controller.abort(new Error("stop"));
    await flush();
    assert.equal((aborted.reason as Error).message, "stop");
    await h.pool.close();
    assert.ok(closed.reason instanceof PoolClosedError);
    await assert.rejects(h.pool.ready(), PoolClosedError);
    assert.equal(h.clock.pendingTimers, 0);
  });

  it("refuses a bad timeout or signal", async () => {
    const h = harness();
    await assert.rejects(h.pool.ready({ timeout: -1 }), RangeError);
    await assert.rejects(
      h.pool.ready({ signal: "no" as unknown as AbortSignal }),
      /Cannot get ready: signal must be an AbortSignal/,
    );
    await h.pool.close();
  });
});
