import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("pool.reset()", () => {
  it("closes every idle connection at once, returns at once, and counts it", async () => {
    const { pool, driver } = harness({ maxOpenConns: 3 });
    const held = [
      await pool.getConnection(),
      await pool.getConnection(),
      await pool.getConnection(),
    ];
    for (const conn of held) conn.release();
    assert.equal(pool.reset(), undefined);
    assert.deepEqual(driver.connections.map((fake) => fake.closeCalls), [1, 1, 1]);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.openConnections, m.poolResets, m.resetClosed], [0, 0, 1, 3]);
    assertConsistent(pool, driver);
    const fresh = await pool.getConnection();
    assert.equal((await fakeOf(driver, fresh)).id, 4);
    fresh.release();
    assert.equal(pool.getMetrics().idle, 1, "a connection opened after the reset is kept");
  });

  it("leaves a connection in use with its holder, and closes it on release instead of reusing it", async () => {
    const { pool, driver } = harness({ maxOpenConns: 2 });
    const held = await pool.getConnection();
    const fake = await fakeOf(driver, held);
    pool.reset();
    assert.equal(fake.closed, false);
    await held.execute("select 1");
    assert.equal(pool.getMetrics().inUse, 1);
    held.release();
    assert.equal(fake.closed, true);
    const m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.idle, m.resetClosed, m.maxIdleClosed], [0, 0, 1, 0]);
    assertConsistent(pool, driver);
  });

  it("serves a waiter with a new connection rather than the one reset retired", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    pool.reset();
    held.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal((await fakeOf(driver, waiter.value!)).id, 2);
    assert.equal(driver.connections[0].closed, true);
    assertConsistent(pool, driver);
  });

  it("closes a dirty connection released after a reset without rolling it back", async () => {
    const { pool, driver } = harness();
    const held = await pool.getConnection();
    const fake = await fakeOf(driver, held);
    await held.execute("begin");
    pool.reset();
    held.release();
    await flush();
    assert.deepEqual([fake.resets, fake.closed], [0, true]);
    assert.deepEqual([pool.getMetrics().checking, pool.getMetrics().resetClosed], [0, 1]);
    assertConsistent(pool, driver);
  });

  it("closes a connection being checked when its check ends", async () => {
    const { pool, driver } = harness();
    const held = await pool.getConnection();
    const fake = await fakeOf(driver, held);
    await held.execute("begin");
    held.release();
    assert.equal(pool.getMetrics().checking, 1, "its rollback is in flight");
    pool.reset();
    assert.equal(fake.closed, false);
    await flush();
    assert.deepEqual([fake.resets, fake.closed], [1, true]);
    const m = pool.getMetrics();
    assert.deepEqual([m.checking, m.idle, m.resetClosed], [0, 0, 1]);
    assertConsistent(pool, driver);
  });

  it("closes a connection that was being opened when reset() was called, and opens another for its caller", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const caller = observe(pool.getConnection());
    await flush();
    pool.reset();
    driver.connectGate = undefined;
    gate.resolve();
    await flush();
    assert.equal(caller.status, "fulfilled");
    assert.equal(driver.connections[0].closed, true);
    assert.equal((await fakeOf(driver, caller.value!)).id, 2);
    const m = pool.getMetrics();
    assert.deepEqual([m.connectionsCreated, m.resetClosed, m.inUse], [2, 1, 1]);
    assertConsistent(pool, driver);
  });

  it("does nothing on a closed pool", async () => {
    const { pool, driver } = harness();
    (await pool.getConnection()).release();
    await pool.close();
    pool.reset();
    assert.deepEqual([pool.getMetrics().poolResets, pool.getMetrics().resetClosed], [0, 0]);
    assert.equal(driver.live, 0);
  });
});
