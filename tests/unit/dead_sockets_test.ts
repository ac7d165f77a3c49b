import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DOUBT_FLOOR_MS, RoundTrips } from "../../src/_core/round_trips.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("round trip estimate", () => {
  it("doubts nothing before checkTimeout until a round trip was timed", () => {
    assert.equal(new RoundTrips().doubtAfter(5_000), 5_000);
  });

  it("doubts after the mean plus four mean deviations, as TCP's retransmission timeout", () => {
    const trips = new RoundTrips();
    trips.sample(400);
    assert.equal(trips.doubtAfter(5_000), 400 + 4 * 200);
    trips.sample(400);
    assert.equal(trips.doubtAfter(5_000), 400 + 4 * 150);
    trips.sample(800);
    assert.equal(trips.doubtAfter(5_000), 450 + 4 * (0.75 * 150 + 0.25 * 400));
  });

  it("never doubts before the floor, nor later than checkTimeout", () => {
    const fast = new RoundTrips();
    for (let i = 0; i < 10; i++) fast.sample(1);
    assert.equal(fast.doubtAfter(5_000), DOUBT_FLOOR_MS);
    const slow = new RoundTrips();
    slow.sample(3_000);
    assert.equal(slow.doubtAfter(5_000), 5_000);
  });
});

describe("dead idle sockets", () => {
  it("serves every call within acquireTimeout while two idle connections never answer", async () => {
    const { pool, driver, clock } = harness({
      maxOpenConns: 3,
      acquireTimeout: 1_000,
      validateAfterIdle: 1_000,
      checkTimeout: 5_000,
    });
    const held = [await pool.getConnection(), await pool.getConnection()];
    for (const conn of held) conn.release();
    await clock.advanceAsync(2_000);
    for (const fake of driver.connections) fake.hangPings = true;
    for (let call = 0; call < 8; call++) {
      const started = clock.now();
      const acquiring = observe(pool.getConnection());
      for (let i = 0; i < 100 && acquiring.status === "pending"; i++) await clock.advanceAsync(10);
      assert.equal(acquiring.status, "fulfilled", `call ${call}: ${acquiring.reason}`);
      assert.ok(clock.now() - started < 1_000, `call ${call} waited ${clock.now() - started} ms`);
      assert.ok((await fakeOf(driver, acquiring.value!)).id > 2, "never a silent one");
      acquiring.value!.release();
      await clock.advanceAsync(1_500);
    }
    assert.equal(pool.getMetrics().validationsFailed, 2);
    assert.equal(driver.connections[0].closed && driver.connections[1].closed, true);
    assertConsistent(pool, driver);
    await pool.close();
  });

  it("pings the other idle connections before lending them once one proved dead", async () => {
    const { pool, driver, clock } = harness({ validateAfterIdle: 60_000, healthInterval: 10_000 });
    const [a, b, c] = [
      await pool.getConnection(),
      await pool.getConnection(),
      await pool.getConnection(),
    ];
    a.release();
    await clock.advanceAsync(5_000);
    c.release();
    b.release();
    const [fakeA, fakeB] = driver.connections;
    fakeA.pingError = new Error("gone");
    // The health check pings only A, unused since the last one; it fails.
    await clock.advanceAsync(5_000);
    assert.equal(pool.getMetrics().healthChecksFailed, 1);
    assert.equal(fakeB.pings, 0);
    const conn = await pool.getConnection();
    assert.equal((await fakeOf(driver, conn)).id, 2);
    assert.equal(fakeB.pings, 1, "proven again before hand-out, though used 5 s ago");
    conn.release();
    assertConsistent(pool, driver);
    await pool.close();
  });
});
