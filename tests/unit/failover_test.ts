import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertConsistent, fakeOf, harness } from "../support/pool_helpers.ts";
import { flush } from "../support/manual_clock.ts";

describe("reset on a server-wide error", () => {
  it("retires every connection when a statement's error says the server is gone and a connect fails too", async () => {
    const { pool, driver, errors } = harness();
    const [a, b] = await Promise.all([pool.getConnection(), pool.getConnection()]);
    b.release();
    const shutdown = new Error("terminating connection due to administrator command");
    driver.errorKinds.set(shutdown, "serverGone");
    driver.queryErrors.set("select 'doomed'", shutdown);
    // The check of the server: it is shutting down.
    driver.failConnects(1, new Error("connection refused"));
    await assert.rejects(a.execute("select 'doomed'"), (error) => error === shutdown);
    await flush();
    assert.equal(driver.connects, 3, "one connect checked the server");
    const m = pool.getMetrics();
    assert.deepEqual(
      [m.poolResets, m.idle, m.resetClosed],
      [1, 0, 1],
      "the idle one closed at once",
    );
    assert.deepEqual(errors, [[shutdown, "failover"]]);
    a.release();
    assert.equal(pool.getMetrics().resetClosed, 2, "the one in use closed on release");
    const fresh = await pool.getConnection();
    assert.equal((await fakeOf(driver, fresh)).id, 3);
    fresh.release();
    assertConsistent(pool, driver);
  });

  it("retires only the connection whose backend was terminated when a connect to the server succeeds", async () => {
    const { pool, driver, errors } = harness();
    const [a, b] = await Promise.all([pool.getConnection(), pool.getConnection()]);
    b.release();
    const terminated = new Error("terminating connection due to administrator command");
    driver.errorKinds.set(terminated, "serverGone");
    (await fakeOf(driver, a)).dieOnQuery = terminated;
    await assert.rejects(a.execute("select 1"), (error) => error === terminated);
    await flush();
    assert.equal(driver.connects, 3, "one connect checked the server");
    assert.equal(driver.connections[2].closed, true, "the check's connection closed at once");
    const m = pool.getMetrics();
    assert.deepEqual([m.poolResets, m.idle, m.resetClosed], [0, 1, 0], "the other one stays");
    assert.deepEqual(errors, []);
    a.release();
    assert.equal((await fakeOf(driver, await pool.getConnection())).id, 2);
    assertConsistent(pool, driver);
  });

  it("checks the server once for the errors of connections that end together", async () => {
    const { pool, driver } = harness();
    const conns = await Promise.all([1, 2, 3].map(() => pool.getConnection()));
    const shutdown = new Error("terminating connection due to administrator command");
    driver.errorKinds.set(shutdown, "serverGone");
    driver.queryErrors.set("select 'doomed'", shutdown);
    driver.failConnects(1, new Error("connection refused"));
    await Promise.all(conns.map((conn) => assert.rejects(conn.execute("select 'doomed'"))));
    await flush();
    assert.equal(driver.connects, 4);
    assert.equal(pool.getMetrics().poolResets, 1);
    for (const conn of conns) conn.release();
    assertConsistent(pool, driver);
  });

  it("resets on a connect error that says the server is starting or stopping", async () => {
    const { pool, driver, clock, errors } = harness();
    (await pool.getConnection()).release();
    const startingUp = new Error("the database system is starting up");
    driver.errorKinds.set(startingUp, "serverGone");
    driver.failConnects(1, startingUp);
    const held = await pool.getConnection();
    const second = pool.getConnection();
    await flush();
    assert.equal(pool.getMetrics().poolResets, 1);
    assert.deepEqual(errors[0], [startingUp, "failover"]);
    held.release();
    assert.equal(pool.getMetrics().resetClosed, 1, "the connection from before the reset closed");
    await clock.advanceAsync(100); // the connect's retry, after its backoff
    (await second).release();
    assertConsistent(pool, driver);
  });

  it("resets on a read-only error only with resetOnReadOnly", async () => {
    for (const resetOnReadOnly of [false, true]) {
      const { pool, driver } = harness({ resetOnReadOnly });
      const conn = await pool.getConnection();
      const readOnly = new Error("cannot execute INSERT in a read-only transaction");
      driver.errorKinds.set(readOnly, "readOnly");
      driver.queryErrors.set("insert", readOnly);
      await assert.rejects(conn.execute("insert"));
      conn.release();
      assert.equal(pool.getMetrics().poolResets, resetOnReadOnly ? 1 : 0, `${resetOnReadOnly}`);
    }
  });

  it("ignores a late error from a connection a reset already retired", async () => {
    const { pool, driver } = harness();
    const [a, b] = await Promise.all([pool.getConnection(), pool.getConnection()]);
    const shutdown = new Error("terminating connection due to administrator command");
    driver.errorKinds.set(shutdown, "serverGone");
    driver.queryErrors.set("select 'doomed'", shutdown);
    driver.failConnects(1, new Error("connection refused"));
    await assert.rejects(a.execute("select 'doomed'"));
    await flush();
    const fresh = await pool.getConnection(); // opened after the reset
    await assert.rejects(b.execute("select 'doomed'"));
    assert.equal(pool.getMetrics().poolResets, 1, "the late error from b changed nothing");
    a.release();
    b.release();
    fresh.release();
    assert.equal(pool.getMetrics().idle, 1, "the fresh connection stays");
    assertConsistent(pool, driver);
  });

  it("refuses a resetOnReadOnly that is not a boolean, naming it", () => {
    assert.throws(
      () => harness({ resetOnReadOnly: "yes" as unknown as boolean }),
      (error: Error) => error instanceof TypeError && /resetOnReadOnly/.test(error.message),
    );
  });
});
