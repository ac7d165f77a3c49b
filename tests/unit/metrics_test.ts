import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolConnection } from "../../src/connection.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, type Harness, harness, observe } from "../support/pool_helpers.ts";

/** Holds the only connection of `h`'s pool for `ms` while one caller waits; returns the waiter's connection. */
async function waitFor(h: Harness, held: PoolConnection, ms: number): Promise<PoolConnection> {
  const waiter = observe(h.pool.getConnection());
  await h.clock.advanceAsync(ms);
  held.release();
  await flush();
  assert.equal(waiter.status, "fulfilled");
  return waiter.value!;
}

describe("connection counts", () => {
  it("starts with everything at zero", () => {
    const { pool } = harness({ maxOpenConns: 7 });
    assert.deepEqual(pool.getMetrics(), {
      acquireCount: 0,
      waitCount: 0,
      waitDuration: 0,
      acquireTimeouts: 0,
      acquireRejections: 0,
      pipelinedStatements: 0,
      connectionsCreated: 0,
      connectErrors: 0,
      circuitOpens: 0,
      circuitRejections: 0,
      maxIdleClosed: 0,
      maxIdleTimeClosed: 0,
      maxLifetimeClosed: 0,
      connectionsLost: 0,
      poolResets: 0,
      resetClosed: 0,
      leaksDetected: 0,
      leaksReclaimed: 0,
      healthChecksPassed: 0,
      healthChecksFailed: 0,
      healthCheckDuration: 0,
      validationsFailed: 0,
      retries: 0,
      maxOpenConnections: 7,
      openConnections: 0,
      inUse: 0,
      idle: 0,
      connecting: 0,
      checking: 0,
      waiting: 0,
      circuitState: "closed",
      acquireTimeP50: 0,
      acquireTimeP99: 0,
      utilization: 0,
    });
  });

  it("keeps openConnections the sum of inUse, idle, connecting and checking, within the limit, at every step", async () => {
    const { pool, driver, clock } = harness({
      maxOpenConns: 3,
      maxIdleConns: 2,
      healthInterval: 1_000,
      acquireTimeout: 0,
    });
    const counts = () => {
      assertConsistent(pool, driver);
      const m = pool.getMetrics();
      return [m.openConnections, m.inUse, m.idle, m.connecting, m.checking, m.waiting];
    };
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const callers = Array.from({ length: 4 }, () => observe(pool.getConnection()));
    assert.deepEqual(counts(), [3, 0, 0, 3, 0, 4]);
    driver.connectGate = undefined;
    gate.resolve();
    await flush();
    assert.deepEqual(counts(), [3, 3, 0, 0, 0, 1]);
    const [a, b, c] = callers.map((caller) => caller.value!);
    await a.execute("begin");
    a.release();
    assert.deepEqual(counts(), [3, 2, 0, 0, 1, 1]);
    await flush();
    assert.deepEqual(counts(), [3, 3, 0, 0, 0, 0]);
    b.release();
    c.release();
    assert.deepEqual(counts(), [3, 1, 2, 0, 0, 0]);
    callers[3].value!.release();
    assert.deepEqual(counts(), [2, 0, 2, 0, 0, 0]);
    for (const fake of driver.connections) fake.hangPings = true;
    await clock.advanceAsync(1_000);
    assert.deepEqual(counts(), [2, 0, 1, 0, 1, 0], "pinged one at a time");
    const d = observe(pool.getConnection());
    const e = observe(pool.getConnection());
    await flush();
    assert.deepEqual(counts(), [3, 2, 0, 0, 1, 0], "the idle one lent, a third opened");
    driver.connections.find((fake) => !fake.closed && fake.pings === 1)!.die();
    await flush();
    assert.deepEqual(counts(), [2, 2, 0, 0, 0, 0]);
    d.value!.release();
    e.value!.release();
    await pool.close();
    assert.deepEqual(counts(), [0, 0, 0, 0, 0, 0]);
  });

  it("counts every loan in acquireCount and every opened connection in connectionsCreated", async () => {
    const { pool } = harness({ maxOpenConns: 2 });
    const a = await pool.getConnection();
    const b = await pool.getConnection();
    a.release();
    b.release();
    for (let i = 0; i < 3; i++) (await pool.getConnection()).release();
    const m = pool.getMetrics();
    assert.deepEqual([m.acquireCount, m.connectionsCreated], [5, 2]);
  });
});

describe("wait metrics", () => {
  it("counts each wait and its exact duration", async () => {
    const h = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const { pool, clock } = h;
    const a = await pool.getConnection();
    assert.deepEqual([pool.getMetrics().waitCount, pool.getMetrics().waitDuration], [1, 0]);
    const b = observe(pool.getConnection());
    await clock.advanceAsync(100);
    const c = observe(pool.getConnection());
    await clock.advanceAsync(150);
    assert.deepEqual([pool.getMetrics().waitCount, pool.getMetrics().waitDuration], [3, 0]);
    a.release();
    await flush();
    assert.equal(pool.getMetrics().waitDuration, 250);
    await clock.advanceAsync(50);
    b.value!.release();
    await flush();
    assert.equal(c.status, "fulfilled");
    const m = pool.getMetrics();
    assert.deepEqual([m.waitCount, m.waitDuration], [3, 250 + 200]);
    c.value!.release();
    (await pool.getConnection()).release();
    assert.deepEqual([pool.getMetrics().waitCount, pool.getMetrics().waitDuration], [3, 450]);
  });

  it("adds waits that time out or abort to waitDuration", async () => {
    const { pool, clock } = harness({ maxOpenConns: 1, acquireTimeout: 300 });
    const held = await pool.getConnection();
    const controller = new AbortController();
    observe(pool.getConnection());
    observe(pool.getConnection({ signal: controller.signal }));
    await clock.advanceAsync(120);
    controller.abort();
    await clock.advanceAsync(1_000);
    const m = pool.getMetrics();
    assert.deepEqual([m.waitCount, m.waitDuration, m.acquireTimeouts], [3, 300 + 120, 1]);
    held.release();
  });

  it("reports 0 as acquire-time percentiles when most hand-outs come from the idle set", async () => {
    const h = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    let held = await h.pool.getConnection();
    for (let i = 0; i < 49; i++) {
      held.release();
      held = await h.pool.getConnection();
    }
    for (let i = 0; i < 48; i++) held = await waitFor(h, held, 10);
    for (let i = 0; i < 2; i++) held = await waitFor(h, held, 1_000);
    const m = h.pool.getMetrics();
    assert.equal(m.acquireCount, 100);
    assert.equal(m.acquireTimeP50, 0);
    assert.equal(m.acquireTimeP99, 1_000);
  });

  it("reports acquire-time percentiles from known waits, within the histogram's resolution", async () => {
    const h = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    let held = await h.pool.getConnection();
    for (let i = 0; i < 59; i++) held = await waitFor(h, held, 10);
    for (let i = 0; i < 39; i++) held = await waitFor(h, held, 200);
    for (let i = 0; i < 1; i++) held = await waitFor(h, held, 5_000);
    const m = h.pool.getMetrics();
    assert.equal(m.acquireCount, 100);
    assert.ok(
      m.acquireTimeP50 >= 10 && m.acquireTimeP50 < 10 * 2 ** 0.25,
      `p50 ${m.acquireTimeP50}`,
    );
    assert.ok(
      m.acquireTimeP99 >= 200 && m.acquireTimeP99 < 200 * 2 ** 0.25,
      `p99 ${m.acquireTimeP99}`,
    );
    held = await waitFor(h, held, 5_000);
    assert.equal(h.pool.getMetrics().acquireTimeP99, 5_000, "capped at the largest wait");
  });

  it("reports the exact wait as every percentile when all waits were equal", async () => {
    const h = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    let held = await waitFor(h, await h.pool.getConnection(), 70);
    for (let i = 0; i < 9; i++) held = await waitFor(h, held, 70);
    held.release();
    const m = h.pool.getMetrics();
    assert.deepEqual([m.acquireTimeP50, m.acquireTimeP99], [70, 70]);
    assert.equal(m.acquireCount, 11, "the first, lazy, acquisition waited 0 ms");
  });
});

describe("health-check metrics", () => {
  it("sums the time spent in passing and failing pings in healthCheckDuration", async () => {
    const { pool, driver, clock } = harness({
      maxOpenConns: 2,
      healthInterval: 1_000,
      checkTimeout: 400,
    });
    const [a, b] = [await pool.getConnection(), await pool.getConnection()];
    a.release();
    b.release();
    // Pinged in turn: the first answers after 150 ms, the second never.
    const pong = Promise.withResolvers<void>();
    let pings = 0;
    for (const fake of driver.connections) {
      fake.ping = () => ++pings === 1 ? pong.promise : new Promise<void>(() => {});
    }
    await clock.advanceAsync(1_000 + 150);
    pong.resolve();
    await flush();
    let m = pool.getMetrics();
    assert.deepEqual([m.healthChecksPassed, m.healthChecksFailed, pings], [1, 0, 2]);
    assert.equal(m.healthCheckDuration, 150);
    await clock.advanceAsync(399);
    assert.equal(pool.getMetrics().healthChecksFailed, 0);
    await clock.advanceAsync(1);
    m = pool.getMetrics();
    assert.deepEqual([m.healthChecksPassed, m.healthChecksFailed], [1, 1]);
    assert.equal(m.healthCheckDuration, 150 + 400);
  });
});

describe("utilization", () => {
  it("is 0 while no connection is open", async () => {
    const { pool, clock } = harness();
    await clock.advanceAsync(5_000);
    assert.equal(pool.getUtilization(), 0);
  });

  it("is 50 when 1 of 2 connections was in use for 5 s", async () => {
    const { pool, clock } = harness();
    const a = await pool.getConnection();
    (await pool.getConnection()).release();
    await clock.advanceAsync(5_000);
    assert.equal(pool.getUtilization(), 50);
    assert.equal(pool.getMetrics().utilization, 50);
    a.release();
  });

  it("weighs each count by the time it held", async () => {
    const { pool, clock } = harness();
    (await pool.getConnection()).release();
    await clock.advanceAsync(1_500);
    const conn = await pool.getConnection();
    await clock.advanceAsync(900);
    conn.release();
    await clock.advanceAsync(7_599);
    // The window is the current 1 s slot and the 9 before it: here 0 to 9.999 s.
    assert.equal(pool.getUtilization(), (900 / 9_999) * 100);
    await clock.advanceAsync(1);
    // From 10 s on, the slot from 0 to 1 s has left the window: 9 s, 10 % in use.
    assert.equal(pool.getUtilization(), (900 / 9_000) * 100);
  });

  it("slides over the last 10 s in 1 s steps", async () => {
    const { pool, clock } = harness();
    const [a, b] = [await pool.getConnection(), await pool.getConnection()];
    a.release();
    b.release();
    await clock.advanceAsync(2_500);
    const conn = await pool.getConnection();
    await clock.advanceAsync(5_000);
    conn.release();
    await clock.advanceAsync(2_499);
    // 0 to 9.999 s: 5 s of use out of 9.999 s on 2 connections.
    assert.equal(pool.getUtilization(), (5_000 / 19_998) * 100);
    await clock.advanceAsync(2_501);
    // 3 s to 12.5 s: 4.5 s of use out of 9.5 s on 2 connections.
    assert.equal(pool.getUtilization(), (4_500 / 19_000) * 100);
    await clock.advanceAsync(4_499);
    // 7 s to 16.999 s: 0.5 s of use.
    assert.equal(pool.getUtilization(), (500 / 19_998) * 100);
    await clock.advanceAsync(1);
    assert.equal(pool.getUtilization(), 0);
  });

  it("holds steady over a long gap without a change", async () => {
    const { pool, clock } = harness();
    const conn = await pool.getConnection();
    (await pool.getConnection()).release();
    await clock.advanceAsync(100_000);
    assert.equal(pool.getUtilization(), 50);
    await clock.advanceAsync(1_000_000_000);
    assert.equal(pool.getUtilization(), 50);
    conn.release();
    await clock.advanceAsync(20_500);
    assert.equal(pool.getUtilization(), 0);
  });

  it("does not count connections being opened as open", async () => {
    const { pool, driver, clock } = harness({ acquireTimeout: 0 });
    const conn = await pool.getConnection();
    driver.connectGate = new Promise(() => {});
    observe(pool.getConnection());
    await clock.advanceAsync(5_000);
    assert.equal(pool.getMetrics().connecting, 1);
    assert.equal(pool.getUtilization(), 100);
    conn.release();
  });
});
