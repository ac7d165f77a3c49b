import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import { ConnectionAbandonedError, ConnectionLeakError, PoolError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";
import { collectGarbage } from "../support/gc.ts";

/** Whether `stack` is that of a getConnection() call made in this file, not of a timer. */
function isCallersStack(stack: string | undefined): boolean {
  return /getConnection[^]*leak_detection_test\.ts/.test(stack ?? "") &&
    !/_manual_clock/.test(stack ?? "");
}

describe("leak detection", () => {
  it("reports a connection held past leakDetectionThreshold once, with the stack of getConnection()", async () => {
    const { pool, driver, clock, errors } = harness({ leakDetectionThreshold: 5_000 });
    const conn = await pool.getConnection();
    await clock.advanceAsync(4_999);
    assert.equal(errors.length, 0);
    await clock.advanceAsync(1);
    assert.equal(errors.length, 1);
    const [error, event] = errors[0];
    assert.equal(event, "leak");
    assert.ok(error instanceof ConnectionLeakError);
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "CONNECTION_LEAK");
    assert.equal(error.threshold, 5_000);
    assert.ok(isCallersStack(error.stack), error.stack);
    await clock.advanceAsync(60_000);
    assert.equal(errors.length, 1, "once per loan");
    const m = pool.getMetrics();
    assert.deepEqual([m.leaksDetected, m.inUse], [1, 1], "the connection stays with its holder");
    conn.release();
    assert.equal(clock.pendingTimers, 0);
    assertConsistent(pool, driver);
  });

  it("reports nothing for a loan released in time, and clears its timer", async () => {
    const { pool, clock, errors } = harness({ leakDetectionThreshold: 5_000 });
    const conn = await pool.getConnection();
    assert.equal(clock.pendingTimers, 1, "one timer for the loan");
    await clock.advanceAsync(4_999);
    conn.release();
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(10_000);
    assert.deepEqual([errors.length, pool.getMetrics().leaksDetected], [0, 0]);
  });

  it("times each loan of the same connection on its own", async () => {
    const { pool, clock, errors } = harness({ leakDetectionThreshold: 1_000 });
    for (let i = 0; i < 3; i++) {
      const conn = await pool.getConnection();
      await clock.advanceAsync(1_500);
      conn.release();
    }
    assert.equal(pool.getMetrics().leaksDetected, 3);
    assert.deepEqual(errors.map(([, event]) => event), ["leak", "leak", "leak"]);
    assert.equal(pool.getMetrics().connectionsCreated, 1);
  });

  it("starts a waiter's timer at hand-out, with the stack of its own call", async () => {
    const { pool, clock, errors } = harness({
      maxOpenConns: 1,
      leakDetectionThreshold: 1_000,
      acquireTimeout: 0,
    });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(900);
    held.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    await clock.advanceAsync(999);
    assert.equal(errors.length, 0);
    await clock.advanceAsync(1);
    assert.equal(errors.length, 1);
    assert.ok(isCallersStack((errors[0][0] as Error).stack));
    waiter.value!.release();
  });

  it("starts no timer when off, which is the default", async () => {
    const { pool, clock, errors } = harness();
    const conn = await pool.getConnection();
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(3_600_000);
    conn.release();
    assert.deepEqual([errors.length, pool.getMetrics().leaksDetected], [0, 0]);
  });

  it("clears the timer of a connection close() takes from its holder", async () => {
    const { pool, clock, errors } = harness({ leakDetectionThreshold: 5_000, closeTimeout: 100 });
    const conn = await pool.getConnection();
    const closing = pool.close();
    await clock.advanceAsync(100);
    await closing;
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(10_000);
    assert.equal(errors.length, 0);
    conn.release();
  });

  it("refuses a leakDetectionThreshold that is not a duration", () => {
    assert.throws(() => harness({ leakDetectionThreshold: -1 }), RangeError);
    assert.throws(
      () => harness({ leakDetectionThreshold: "1000" } as unknown as Partial<PoolOptions>),
      TypeError,
    );
  });
});

const canCollect = collectGarbage();

describe("abandoned connections", () => {
  it(
    "takes back a connection whose handle was garbage-collected without release",
    { skip: !canCollect && "needs a collectable heap: run Deno with --v8-flags=--expose-gc" },
    async () => {
      const { pool, driver, errors } = harness({ leakDetectionThreshold: 60_000 });
      await (async () => {
        await pool.getConnection(); // dropped on the floor
      })();
      assert.equal(pool.getMetrics().inUse, 1);
      // Finalizers run some time after a collection; try a bounded number of times.
      for (let i = 0; i < 50 && pool.getMetrics().inUse > 0; i++) {
        collectGarbage();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const m = pool.getMetrics();
      assert.deepEqual([m.inUse, m.idle, m.leaksReclaimed, m.leaksDetected], [0, 1, 1, 0]);
      const [error, event] = errors.at(-1)!;
      assert.equal(event, "leak");
      assert.ok(error instanceof ConnectionAbandonedError);
      assert.ok(error.cause instanceof ConnectionLeakError, "the cause carries the taking stack");
      assertConsistent(pool, driver);
      await pool.close();
    },
  );

  it("never reclaims a connection that was released, even after its handle is collected", {
    skip: !canCollect && "needs a collectable heap: run Deno with --v8-flags=--expose-gc",
  }, async () => {
    const { pool, errors } = harness({ leakDetectionThreshold: 60_000 });
    await (async () => {
      const conn = await pool.getConnection();
      conn.release();
    })();
    const again = await pool.getConnection(); // the same connection, lent again
    for (let i = 0; i < 5; i++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.leaksReclaimed], [1, 0]);
    assert.deepEqual(errors, []);
    again.release();
    await pool.close();
  });
});
