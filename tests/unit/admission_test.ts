import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import { PoolError, PoolExhaustedError } from "../../src/errors.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";

describe("maxWaiting", () => {
  it("refuses a caller at once with PoolExhaustedError when maxWaiting callers already wait, and counts it", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, maxWaiting: 2, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const waiting = [observe(pool.getConnection()), observe(pool.getConnection())];
    const refused = observe(pool.getConnection());
    await flush();
    assert.equal(refused.status, "rejected");
    const error = refused.reason;
    assert.ok(error instanceof PoolExhaustedError);
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "POOL_EXHAUSTED");
    assert.equal(error.maxWaiting, 2);
    assert.equal(
      error.message,
      "Cannot get a connection: every connection is in use and 2 callers already wait",
    );
    const m = pool.getMetrics();
    // The first caller waited too, for the connect that served it; the refused one did not.
    assert.deepEqual([m.waiting, m.acquireRejections, m.waitCount], [2, 1, 3]);
    assert.deepEqual(waiting.map((w) => w.status), ["pending", "pending"]);
    assertConsistent(pool, driver);
    held.release();
    await flush();
    assert.equal(waiting[0].status, "fulfilled");
    const admitted = observe(pool.getConnection());
    await flush();
    assert.equal(admitted.status, "pending", "a place in the queue came free");
    assert.equal(pool.getMetrics().waiting, 2);
  });

  it("still opens connections up to maxOpenConns when maxWaiting is 0", async () => {
    const { pool, driver } = harness({ maxOpenConns: 2, maxWaiting: 0 });
    const a = await pool.getConnection();
    const b = await pool.getConnection();
    await assert.rejects(pool.getConnection(), PoolExhaustedError);
    a.release();
    const c = await pool.getConnection();
    assert.equal(pool.getMetrics().acquireRejections, 1);
    assert.equal(driver.connects, 2);
    b.release();
    c.release();
    assertConsistent(pool, driver);
  });

  it("admits callers that connects being opened will serve, and counts them as waiting", async () => {
    const { pool, driver } = harness({ maxOpenConns: 3, maxWaiting: 0 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const callers = [1, 2, 3].map(() => observe(pool.getConnection()));
    await flush();
    assert.deepEqual([pool.getMetrics().waiting, pool.getMetrics().connecting], [3, 3]);
    await assert.rejects(pool.getConnection(), PoolExhaustedError);
    assertConsistent(pool, driver);
    gate.resolve();
    await flush();
    assert.deepEqual(callers.map((c) => c.status), ["fulfilled", "fulfilled", "fulfilled"]);
    assert.equal(pool.getMetrics().acquireRejections, 1);
  });

  it("hands out an idle connection whatever the queue", async () => {
    const { pool } = harness({ maxOpenConns: 1, maxWaiting: 0 });
    (await pool.getConnection()).release();
    (await pool.getConnection()).release();
    assert.equal(pool.getMetrics().acquireRejections, 0);
  });

  it("lets any number of callers wait by default", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const waiters = Array.from({ length: 1_000 }, () => observe(pool.getConnection()));
    await flush();
    assert.deepEqual([pool.getMetrics().waiting, pool.getMetrics().acquireRejections], [1_000, 0]);
    assert.ok(waiters.every((w) => w.status === "pending"));
    held.release();
    assertConsistent(pool, driver);
  });

  it("refuses a maxWaiting that is not a non-negative integer", () => {
    const create = (maxWaiting: unknown) =>
      new ConnectionPool(
        { driver: new FakeDriver(), clock: new ManualClock(), maxWaiting } as PoolOptions,
      );
    assert.throws(() => create(-1), RangeError);
    assert.throws(() => create(1.5), RangeError);
    assert.throws(() => create(Infinity), RangeError);
    assert.throws(() => create("2"), TypeError);
    assert.throws(() => create(null), TypeError);
    create(0);
  });
});
