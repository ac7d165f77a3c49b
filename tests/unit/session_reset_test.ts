import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness } from "../support/pool_helpers.ts";

describe("resetSession", () => {
  it("clears the session on every release, then lends the same connection again", async () => {
    const { pool, driver } = harness({ resetSession: true });
    const first = await pool.getConnection();
    const fake = await fakeOf(driver, first);
    first.release();
    assert.equal(fake.discards, 1, "a clean release is cleared too");
    assert.equal(pool.getMetrics().checking, 1, "out of use until cleared");
    await flush();
    assert.equal(pool.getMetrics().idle, 1);
    const second = await pool.getConnection();
    assert.equal(await fakeOf(driver, second), fake);
    await second.execute("begin");
    second.release();
    await flush();
    assert.deepEqual([fake.discards, fake.resets, fake.transaction], [2, 0, "idle"]);
    assertConsistent(pool, driver);
  });

  it("leaves a clean connection alone without it", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    const fake = await fakeOf(driver, conn);
    conn.release();
    assert.deepEqual([fake.discards, fake.resets, pool.getMetrics().idle], [0, 0, 1]);
  });

  it("closes a connection whose session cannot be cleared, and says so", async () => {
    const { pool, driver, errors } = harness({ resetSession: true });
    const conn = await pool.getConnection();
    const fake = await fakeOf(driver, conn);
    const failure = new Error("cannot discard");
    fake.discardError = failure;
    conn.release();
    await flush();
    assert.equal(fake.closed, true);
    assert.deepEqual(errors, [[failure, "reset"]]);
    assert.equal(pool.getMetrics().connectionsLost, 1);
    assertConsistent(pool, driver);
  });

  it("falls back to reset for a driver without discard", async () => {
    const { pool, driver } = harness({ resetSession: true });
    driver.onOpen = (fake) => Object.defineProperty(fake, "discard", { value: undefined });
    const conn = await pool.getConnection();
    const fake = await fakeOf(driver, conn);
    conn.release();
    await flush();
    assert.deepEqual([fake.discards, fake.resets, pool.getMetrics().idle], [0, 1, 1]);
  });

  it("refuses a resetSession that is not a boolean, naming it", () => {
    assert.throws(
      () => harness({ resetSession: 1 as unknown as boolean }),
      (error: Error) => error instanceof TypeError && /resetSession/.test(error.message),
    );
  });
});
