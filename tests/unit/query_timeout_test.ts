import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { QueryTimeoutError } from "../../src/errors.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";

describe("statement timeout", () => {
  it("cancels a statement that runs past its timeout and rejects with QueryTimeoutError", async () => {
    const { pool, driver, clock } = harness();
    driver.onOpen = (fake) => fake.hangQueries = true;
    const conn = await pool.getConnection();
    const running = observe(conn.execute("select pg_sleep(60)", [], { timeout: 2_000 }));
    await clock.advanceAsync(1_999);
    assert.equal(running.status, "pending");
    await clock.advanceAsync(1);
    assert.equal(running.status, "rejected");
    assert.ok(running.reason instanceof QueryTimeoutError);
    assert.equal((running.reason as QueryTimeoutError).code, "QUERY_TIMEOUT");
    assert.equal((running.reason as QueryTimeoutError).timeout, 2_000);
    conn.release();
    assert.equal(clock.pendingTimers, 0, "the timeout's timer is gone");
    assertConsistent(pool, driver);
  });

  it("clears the timer of a statement that finishes in time", async () => {
    const { pool, clock } = harness();
    const conn = await pool.getConnection();
    const { rows } = await conn.execute("select 1", [], { timeout: 5_000 });
    assert.deepEqual(rows, [{ "?column?": 1 }]);
    assert.equal(clock.pendingTimers, 0);
    conn.release();
  });

  it("still honours the caller's signal when a timeout is set", async () => {
    const { pool, driver, clock } = harness();
    driver.onOpen = (fake) => fake.hangQueries = true;
    const conn = await pool.getConnection();
    const controller = new AbortController();
    const running = observe(
      conn.execute("select pg_sleep(60)", [], { timeout: 5_000, signal: controller.signal }),
    );
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await clock.advanceAsync(0);
    assert.equal(running.reason, reason);
    assert.equal(clock.pendingTimers, 0);
    conn.release();
  });

  it("bounds only the statement on pool.execute, not the wait for a connection", async () => {
    const { pool, clock } = harness({ maxOpenConns: 1 });
    const holder = await pool.getConnection();
    const waiting = observe(pool.execute("select 1", [], { timeout: 100 }));
    await clock.advanceAsync(1_000);
    assert.equal(waiting.status, "pending", "a 100 ms statement timeout does not end the wait");
    holder.release();
    await clock.advanceAsync(0);
    assert.equal(waiting.status, "fulfilled");
  });

  it("bounds a statement inside a transaction", async () => {
    const { pool, driver, clock } = harness();
    const tx = await pool.beginTx();
    driver.last!.hangQueries = true;
    const running = observe(tx.execute("select pg_sleep(60)", [], { timeout: 50 }));
    await clock.advanceAsync(50);
    assert.ok(running.reason instanceof QueryTimeoutError);
    driver.last!.hangQueries = false;
    await tx.rollback();
    assertConsistent(pool, driver);
  });

  it("refuses a timeout that is not a duration, naming it", async () => {
    const { pool } = harness();
    const conn = await pool.getConnection();
    await assert.rejects(conn.execute("select 1", [], { timeout: -1 }), (error: Error) => {
      return error instanceof RangeError && /timeout/.test(error.message) &&
        /-1/.test(error.message);
    });
    await assert.rejects(
      conn.execute("select 1", [], { timeout: "5" as unknown as number }),
      TypeError,
    );
    conn.release();
  });
});
