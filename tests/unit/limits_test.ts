import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PoolError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("maxIdleConns", () => {
  it("closes a released connection when maxIdleConns are already idle, and counts it", async () => {
    const { pool, driver } = harness({ maxOpenConns: 3, maxIdleConns: 1 });
    const held = [
      await pool.getConnection(),
      await pool.getConnection(),
      await pool.getConnection(),
    ];
    for (const conn of held) conn.release();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.maxIdleClosed], [1, 1, 2]);
    assert.deepEqual(driver.connections.map((fake) => fake.closed), [false, true, true]);
    assertConsistent(pool, driver);
  });

  it("keeps no connection idle when maxIdleConns is 0", async () => {
    const { pool, driver } = harness({ maxIdleConns: 0 });
    for (let i = 0; i < 3; i++) (await pool.getConnection()).release();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.maxIdleClosed], [0, 0, 3]);
    assert.equal(driver.connects, 3);
  });

  it("hands a released connection to a waiter rather than close it for maxIdleConns", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, maxIdleConns: 0, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    held.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal(pool.getMetrics().maxIdleClosed, 0);
    assert.equal(driver.connects, 1);
  });
});

describe("connMaxIdleTime", () => {
  it("closes a connection idle for connMaxIdleTime at the sweep, and counts it", async () => {
    const { pool, driver, clock } = harness({ connMaxIdleTime: 4_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(3_999);
    assert.equal(pool.getMetrics().idle, 1);
    await clock.advanceAsync(1);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.maxIdleTimeClosed], [0, 0, 1]);
    assert.equal(driver.last!.closed, true);
    assertConsistent(pool, driver);
  });

  it("closes an idle connection past connMaxIdleTime when it would be lent, and opens another", async () => {
    // Sweeps run every 2.5 s; the limit falls between two of them.
    const { pool, driver, clock } = harness({ connMaxIdleTime: 10_000 });
    await clock.advanceAsync(1);
    (await pool.getConnection()).release();
    await clock.advanceAsync(10_000);
    assert.equal(pool.getMetrics().idle, 1, "the sweep at 10 s found it idle for 9.999 s");
    const conn = await pool.getConnection();
    assert.equal(pool.getMetrics().maxIdleTimeClosed, 1);
    assert.equal(driver.connections[0].closed, true);
    assert.equal((await fakeOf(driver, conn)).id, 2);
    assertConsistent(pool, driver);
  });

  it("starts the idle time at release, not at acquire", async () => {
    const { pool, driver, clock } = harness({ connMaxIdleTime: 4_000 });
    const conn = await pool.getConnection();
    await clock.advanceAsync(10_000);
    assert.equal(driver.last!.closed, false, "never retired while in use");
    conn.release();
    assert.deepEqual([pool.getMetrics().idle, pool.getMetrics().maxIdleTimeClosed], [1, 0]);
    await clock.advanceAsync(3_999);
    assert.equal(pool.getMetrics().idle, 1);
    await clock.advanceAsync(1);
    assert.deepEqual([pool.getMetrics().idle, pool.getMetrics().maxIdleTimeClosed], [0, 1]);
  });

  it("sweeps every quarter of the shortest limit, at least every 60 s", async () => {
    const { pool, clock } = harness({ connMaxIdleTime: 400_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(419_999);
    assert.equal(pool.getMetrics().idle, 1, "no sweep between 360 s and 420 s");
    await clock.advanceAsync(1);
    assert.equal(pool.getMetrics().maxIdleTimeClosed, 1);
  });

  it("sweeps at most every second", async () => {
    const { pool, clock } = harness({ connMaxIdleTime: 100 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(999);
    assert.equal(pool.getMetrics().idle, 1);
    await clock.advanceAsync(1);
    assert.equal(pool.getMetrics().maxIdleTimeClosed, 1);
  });
});

describe("connMaxLifetime", () => {
  it("closes an idle connection at the sweep once it has lived connMaxLifetime, however recently used", async () => {
    const { pool, driver, clock } = harness({ connMaxLifetime: 8_000 });
    const conn = await pool.getConnection();
    await clock.advanceAsync(7_000);
    conn.release();
    await clock.advanceAsync(999);
    assert.equal(pool.getMetrics().idle, 1);
    await clock.advanceAsync(1);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.maxLifetimeClosed], [0, 0, 1]);
    assert.equal(driver.last!.closed, true);
  });

  it("closes an idle connection past its lifetime when it would be lent, and opens another", async () => {
    // Sweeps run every 2.5 s; the connection opens at 1 ms, so it expires between two of them.
    const { pool, driver, clock } = harness({ connMaxLifetime: 10_000 });
    await clock.advanceAsync(1);
    (await pool.getConnection()).release();
    await clock.advanceAsync(10_000);
    assert.equal(pool.getMetrics().idle, 1);
    const conn = await pool.getConnection();
    assert.equal(pool.getMetrics().maxLifetimeClosed, 1);
    assert.equal(driver.connections[0].closed, true);
    assert.equal((await fakeOf(driver, conn)).id, 2);
    assertConsistent(pool, driver);
  });

  it("never retires a connection in use, and retires it on release once past its lifetime", async () => {
    const { pool, driver, clock } = harness({ connMaxLifetime: 8_000 });
    const conn = await pool.getConnection();
    await clock.advanceAsync(20_000);
    assert.equal(driver.last!.closed, false);
    assert.equal(pool.getMetrics().maxLifetimeClosed, 0);
    await conn.execute("select 1");
    conn.release();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.maxLifetimeClosed], [0, 0, 1]);
    assert.equal(driver.last!.closed, true);
  });

  it("hands a waiter a new connection instead of one released past its lifetime", async () => {
    const { pool, driver, clock } = harness({
      maxOpenConns: 1,
      connMaxLifetime: 8_000,
      acquireTimeout: 0,
    });
    const conn = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(8_000);
    conn.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal((await fakeOf(driver, waiter.value!)).id, 2);
    assert.equal(pool.getMetrics().maxLifetimeClosed, 1);
    assertConsistent(pool, driver);
  });

  it("starts no sweep when neither limit is set", async () => {
    const { pool, driver, clock } = harness({ connMaxLifetime: 0, connMaxIdleTime: 0 });
    (await pool.getConnection()).release();
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(2 ** 31);
    assert.equal(pool.getMetrics().idle, 1);
    assert.equal(driver.last!.closed, false);
  });
});

describe("lost connections", () => {
  it("removes an idle connection that dies, counts it, and reports it to onError", async () => {
    const { pool, driver, errors } = harness();
    (await pool.getConnection()).release();
    const terminated = new Error("terminating connection due to administrator command");
    driver.last!.die(terminated);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.connectionsLost], [0, 0, 1]);
    assert.deepEqual(errors, [[terminated, "connectionLost"]]);
    assertConsistent(pool, driver);
    const next = await pool.getConnection();
    assert.equal((await fakeOf(driver, next)).id, 2);
  });

  it("reports a PoolError when an idle connection closes without an error", async () => {
    const { pool, driver, errors } = harness();
    (await pool.getConnection()).release();
    await driver.last!.close();
    assert.equal(pool.getMetrics().connectionsLost, 1);
    assert.equal(errors.length, 1);
    const [error, event] = errors[0];
    assert.equal(event, "connectionLost");
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "CONNECTION_LOST");
  });

  it("carries on when the onError hook throws", async () => {
    const { pool, driver } = harness({
      onError: () => {
        throw new Error("hook failed");
      },
    });
    (await pool.getConnection()).release();
    driver.last!.die();
    assert.deepEqual([pool.getMetrics().connectionsLost, pool.getMetrics().idle], [1, 0]);
    const conn = await pool.getConnection();
    assert.equal((await fakeOf(driver, conn)).id, 2);
  });

  it("keeps counting a connection that dies in use until its holder releases it", async () => {
    const { pool, driver, errors } = harness();
    const conn = await pool.getConnection();
    driver.last!.die();
    await flush();
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().connectionsLost], [1, 0]);
    conn.release();
    assert.deepEqual([pool.getMetrics().openConnections, pool.getMetrics().connectionsLost], [
      0,
      1,
    ]);
    assert.deepEqual(errors, []);
  });

  it("does not count a connection the pool closed itself as lost", async () => {
    const { pool, clock } = harness({ maxIdleConns: 0, connMaxIdleTime: 1_000 });
    (await pool.getConnection()).release();
    (await pool.getConnection()).release();
    await clock.advanceAsync(5_000);
    await pool.close();
    assert.equal(pool.getMetrics().connectionsLost, 0);
    assert.equal(pool.getMetrics().maxIdleClosed, 2);
  });
});
