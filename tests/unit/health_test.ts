import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PoolError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("health checks", () => {
  it("pings an idle connection every healthInterval and keeps it when it answers", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000 });
    (await pool.getConnection()).release();
    const fake = driver.last!;
    await clock.advanceAsync(999);
    assert.equal(fake.pings, 0);
    await clock.advanceAsync(1);
    assert.equal(fake.pings, 1);
    await clock.advanceAsync(1_000);
    assert.equal(fake.pings, 2);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.checking, m.healthChecksPassed, m.healthChecksFailed], [
      1,
      0,
      2,
      0,
    ]);
    assert.equal(fake.closed, false);
    assertConsistent(pool, driver);
  });

  it("skips a connection used since the last check", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000 });
    (await pool.getConnection()).release();
    const fake = driver.last!;
    await clock.advanceAsync(500);
    (await pool.getConnection()).release();
    await clock.advanceAsync(500);
    assert.equal(fake.pings, 0, "used at 0.5 s, after the check before 1 s");
    await clock.advanceAsync(1_000);
    assert.equal(fake.pings, 1, "unused between 1 s and 2 s");
  });

  it("never touches a connection in use", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000 });
    const conn = await pool.getConnection();
    await clock.advanceAsync(10_000);
    assert.equal(driver.last!.pings, 0);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().checking], [1, 0]);
    conn.release();
  });

  it("closes a connection whose ping fails, counts it, and reports it to onError", async () => {
    const { pool, driver, clock, errors } = harness({ healthInterval: 1_000 });
    (await pool.getConnection()).release();
    const fake = driver.last!;
    const broken = new Error("server closed the connection unexpectedly");
    fake.pingError = broken;
    await clock.advanceAsync(1_000);
    assert.equal(fake.closed, true);
    const m = pool.getMetrics();
    assert.deepEqual([m.openConnections, m.idle, m.checking], [0, 0, 0]);
    assert.deepEqual([m.healthChecksPassed, m.healthChecksFailed, m.connectionsLost], [0, 1, 0]);
    assert.deepEqual(errors, [[broken, "healthCheck"]]);
    assertConsistent(pool, driver);
    const next = await pool.getConnection();
    assert.equal((await fakeOf(driver, next)).id, 2);
  });

  it("gives up on a ping that does not answer within checkTimeout and closes the connection", async () => {
    const { pool, driver, clock, errors } = harness({ healthInterval: 1_000, checkTimeout: 200 });
    (await pool.getConnection()).release();
    const fake = driver.last!;
    fake.hangPings = true;
    await clock.advanceAsync(1_000);
    let m = pool.getMetrics();
    assert.deepEqual([m.idle, m.checking, m.openConnections], [0, 1, 1]);
    assertConsistent(pool, driver);
    await clock.advanceAsync(199);
    assert.equal(fake.closed, false);
    await clock.advanceAsync(1);
    assert.equal(fake.closed, true);
    m = pool.getMetrics();
    assert.deepEqual([m.checking, m.openConnections, m.healthChecksFailed], [0, 0, 1]);
    assert.equal(m.healthCheckDuration, 200);
    assert.equal(errors.length, 1);
    const [error, event] = errors[0];
    assert.equal(event, "healthCheck");
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "CHECK_TIMEOUT");
    assert.equal(error.message, "Health check failed: no answer within 200 ms");
    assert.equal(fake.pings, 1);
    assertConsistent(pool, driver);
  });

  it("lends another connection while one is being checked, without waiting for its ping", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000, checkTimeout: 0 });
    (await pool.getConnection()).release();
    driver.last!.hangPings = true;
    await clock.advanceAsync(1_000);
    const conn = observe(pool.getConnection());
    await flush();
    assert.equal(conn.status, "fulfilled");
    assert.equal((await fakeOf(driver, conn.value!)).id, 2);
    assert.deepEqual([pool.getMetrics().checking, pool.getMetrics().inUse], [1, 1]);
    assertConsistent(pool, driver);
  });

  it("hands the connection under check to a waiter once its ping passes, and times the ping", async () => {
    const { pool, driver, clock } = harness({
      healthInterval: 1_000,
      maxOpenConns: 1,
      acquireTimeout: 0,
    });
    (await pool.getConnection()).release();
    const fake = driver.last!;
    const pong = Promise.withResolvers<void>();
    fake.ping = () => pong.promise;
    await clock.advanceAsync(1_000);
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(300);
    assert.equal(waiter.status, "pending");
    assert.equal(driver.connects, 1, "the connection under check counts against maxOpenConns");
    pong.resolve();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal(await fakeOf(driver, waiter.value!), fake);
    const m = pool.getMetrics();
    assert.deepEqual([m.healthChecksPassed, m.healthCheckDuration, m.checking], [1, 300, 0]);
  });

  it("closes an idle connection past its idle time at the check instead of pinging it", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000, connMaxIdleTime: 1_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(1_000);
    assert.equal(driver.last!.pings, 0);
    assert.equal(driver.last!.closed, true);
    assert.equal(pool.getMetrics().maxIdleTimeClosed, 1);
    assert.equal(pool.getMetrics().healthChecksFailed, 0);
  });

  it("pings the connections of a round one at a time, and lends the others meanwhile", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000, checkTimeout: 0 });
    const held = await Promise.all([1, 2, 3].map(() => pool.getConnection()));
    for (const conn of held) conn.release();
    const pongs: PromiseWithResolvers<void>[] = [];
    for (const fake of driver.connections) {
      fake.ping = () => {
        fake.pings++;
        pongs.push(Promise.withResolvers<void>());
        return pongs.at(-1)!.promise;
      };
    }
    await clock.advanceAsync(1_000);
    let m = pool.getMetrics();
    assert.deepEqual([pongs.length, m.checking, m.idle], [1, 1, 2], "one ping in flight");
    const lent = await pool.getConnection();
    lent.release();
    pongs[0].resolve();
    await flush();
    m = pool.getMetrics();
    assert.deepEqual([pongs.length, m.checking, m.idle], [2, 1, 2], "then the next");
    pongs[1].resolve();
    await flush();
    assert.equal(pongs.length, 2, "the one lent during the round proved itself: no ping");
    m = pool.getMetrics();
    assert.deepEqual([m.checking, m.idle, m.healthChecksPassed], [0, 3, 2]);
    assertConsistent(pool, driver);
  });

  it("starts no round while the last one still runs", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 1_000, checkTimeout: 0 });
    const held = await Promise.all([1, 2].map(() => pool.getConnection()));
    for (const conn of held) conn.release();
    for (const fake of driver.connections) fake.hangPings = true;
    await clock.advanceAsync(5_000);
    assert.deepEqual(driver.connections.map((fake) => fake.pings).sort(), [0, 1]);
    assert.deepEqual([pool.getMetrics().checking, pool.getMetrics().idle], [1, 1]);
  });

  it("pings the rest of the round at once after a ping fails", async () => {
    const { pool, driver, clock, errors } = harness({ healthInterval: 1_000, checkTimeout: 0 });
    const held = await Promise.all([1, 2, 3].map(() => pool.getConnection()));
    for (const conn of held) conn.release();
    for (const fake of driver.connections) fake.hangPings = true;
    await clock.advanceAsync(1_000);
    const first = driver.connections.find((fake) => fake.pings === 1)!;
    assert.equal(pool.getMetrics().checking, 1);
    first.die();
    await flush();
    const m = pool.getMetrics();
    assert.deepEqual([m.checking, m.idle, m.healthChecksFailed], [2, 0, 1]);
    assert.ok(driver.connections.every((fake) => fake.pings === 1), "each pinged once");
    assert.equal(errors.length, 1);
    assertConsistent(pool, driver);
  });

  it("runs no check when healthInterval is 0", async () => {
    const { pool, driver, clock } = harness({ healthInterval: 0 });
    (await pool.getConnection()).release();
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(1_000_000);
    assert.equal(driver.last!.pings, 0);
  });
});
