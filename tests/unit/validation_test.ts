import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";
import { DOUBT_FLOOR_MS } from "../../src/_core/round_trips.ts";

describe("validation on hand-out", () => {
  it("hands out a connection used within validateAfterIdle without a ping", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 1_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(1_000);
    const conn = await pool.getConnection();
    assert.equal(driver.last!.pings, 0);
    conn.release();
  });

  it("pings a connection idle longer than validateAfterIdle, then hands out the same one", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 1_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(1_001);
    const conn = await pool.getConnection();
    assert.equal(driver.last!.pings, 1);
    assert.equal(driver.connects, 1, "no connection was opened for the wait");
    assert.equal((await fakeOf(driver, conn)).id, 1);
    conn.release();
    assertConsistent(pool, driver);
  });

  it("replaces a connection whose ping fails, without the caller seeing an error", async () => {
    const { pool, driver, clock, errors } = harness({ validateAfterIdle: 1_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(5_000);
    const failure = new Error("server went away");
    driver.last!.pingError = failure;
    const conn = await pool.getConnection();
    assert.equal((await fakeOf(driver, conn)).id, 2, "a new connection");
    assert.equal(driver.connections[0].closed, true);
    const m = pool.getMetrics();
    assert.equal(m.validationsFailed, 1);
    assert.deepEqual(errors, [[failure, "validation"]]);
    conn.release();
    assertConsistent(pool, driver);
  });

  it("with no slot free, bounds the ping by checkTimeout and replaces a connection that does not answer", async () => {
    const { pool, driver, clock } = harness({
      validateAfterIdle: 1_000,
      checkTimeout: 300,
      maxOpenConns: 1,
    });
    (await pool.getConnection()).release();
    await clock.advanceAsync(2_000);
    driver.last!.hangPings = true;
    const acquiring = observe(pool.getConnection());
    await clock.advanceAsync(299);
    assert.equal(acquiring.status, "pending");
    assert.equal(pool.getMetrics().checking, 1);
    await clock.advanceAsync(1);
    assert.equal(acquiring.status, "fulfilled");
    assert.equal((await fakeOf(driver, acquiring.value!)).id, 2);
    assert.equal(pool.getMetrics().validationsFailed, 1);
    acquiring.value!.release();
    assertConsistent(pool, driver);
  });

  it("opens a connection in parallel once the ping is doubtful, and retires the silent one at checkTimeout", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 1_000, checkTimeout: 300 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(2_000);
    driver.last!.hangPings = true;
    const acquiring = observe(pool.getConnection());
    // Connects on the manual clock take no time: the doubt comes at the floor.
    await clock.advanceAsync(DOUBT_FLOOR_MS - 1);
    assert.equal(acquiring.status, "pending");
    assert.equal(driver.connects, 1);
    await clock.advanceAsync(1);
    assert.equal(acquiring.status, "fulfilled");
    assert.equal((await fakeOf(driver, acquiring.value!)).id, 2);
    assert.equal(pool.getMetrics().checking, 1, "the ping goes on");
    await clock.advanceAsync(300 - DOUBT_FLOOR_MS);
    assert.equal(pool.getMetrics().validationsFailed, 1);
    assert.equal(pool.getMetrics().checking, 0);
    assert.equal(driver.connections[0].closed, true);
    acquiring.value!.release();
    assertConsistent(pool, driver);
  });

  it("trusts a connection that passed a health check as recently as a use", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 1_000, healthInterval: 10_000 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(10_000);
    assert.equal(driver.last!.pings, 1, "the health check pinged it");
    await clock.advanceAsync(500);
    const conn = await pool.getConnection();
    assert.equal(driver.last!.pings, 1, "no second ping at hand-out");
    conn.release();
  });

  it("validates nothing when validateAfterIdle is 0", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 0 });
    (await pool.getConnection()).release();
    await clock.advanceAsync(3_600_000);
    (await pool.getConnection()).release();
    assert.equal(driver.last!.pings, 0);
  });
});
