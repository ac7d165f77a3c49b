import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pgError } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("acquiring and releasing", () => {
  it("opens no connection before the first getConnection", async () => {
    const { pool, driver } = harness({ maxOpenConns: 5 });
    await flush();
    assert.equal(driver.connects, 0);
    assert.equal(pool.getMetrics().openConnections, 0);
  });

  it("opens a connection on the first getConnection and lends it", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    assert.equal(driver.connects, 1);
    assert.equal(conn.released, false);
    assert.deepEqual((await conn.execute("select 1")).rows, [{ "?column?": 1 }]);
    const m = pool.getMetrics();
    assert.deepEqual(
      [m.openConnections, m.inUse, m.idle, m.acquireCount, m.connectionsCreated],
      [1, 1, 0, 1, 1],
    );
    assertConsistent(pool, driver);
  });

  it("passes the statement's text and parameters to the driver", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    await conn.execute("update t set a = $1 where b = $2", [1, "x"]);
    await conn.execute("select 1");
    assert.deepEqual(driver.last!.queries, ["update t set a = $1 where b = $2", "select 1"]);
    assert.deepEqual(driver.last!.params, [[1, "x"], []]);
  });

  it("takes a released connection back as idle without closing it", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    conn.release();
    assert.equal(conn.released, true);
    const m = pool.getMetrics();
    assert.deepEqual([m.openConnections, m.inUse, m.idle], [1, 0, 1]);
    assert.equal(driver.last!.closed, false);
    assertConsistent(pool, driver);
  });

  it("reuses an idle connection before opening a new one", async () => {
    const { pool, driver } = harness();
    for (let i = 0; i < 5; i++) {
      const conn = await pool.getConnection();
      assert.equal((await fakeOf(driver, conn)).id, 1);
      conn.release();
    }
    assert.equal(driver.connects, 1);
    assert.equal(pool.getMetrics().acquireCount, 5);
  });

  it("hands out an idle connection at once, without waiting", async () => {
    const { pool } = harness();
    (await pool.getConnection()).release();
    const again = observe(pool.getConnection());
    await Promise.resolve();
    assert.equal(again.status, "fulfilled");
    assert.equal(pool.getMetrics().waitCount, 1, "only the first call had to wait for a connect");
  });

  it("lends the most recently released idle connection first", async () => {
    const { pool, driver } = harness();
    const a = await pool.getConnection();
    const b = await pool.getConnection();
    const [fa, fb] = [await fakeOf(driver, a), await fakeOf(driver, b)];
    a.release();
    b.release();
    const next = await pool.getConnection();
    assert.equal(await fakeOf(driver, next), fb);
    next.release();
    const [c, d] = [await pool.getConnection(), await pool.getConnection()];
    assert.deepEqual([await fakeOf(driver, c), await fakeOf(driver, d)], [fb, fa]);
    assert.equal(driver.connects, 2);
  });

  it("opens another connection while every open one is in use", async () => {
    const { pool, driver } = harness({ maxOpenConns: 3 });
    const held = [
      await pool.getConnection(),
      await pool.getConnection(),
      await pool.getConnection(),
    ];
    const fakes = new Set(await Promise.all(held.map((conn) => fakeOf(driver, conn))));
    assert.equal(fakes.size, 3);
    assert.equal(driver.connects, 3);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [3, 0]);
    assertConsistent(pool, driver);
  });

  it("counts connections being opened against maxOpenConns", async () => {
    const { pool, driver } = harness({ maxOpenConns: 2, acquireTimeout: 0 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const callers = Array.from({ length: 5 }, () => observe(pool.getConnection()));
    await flush();
    let m = pool.getMetrics();
    assert.equal(driver.connects, 2);
    assert.deepEqual([m.openConnections, m.connecting, m.waiting, m.inUse], [2, 2, 5, 0]);
    assertConsistent(pool, driver);
    gate.resolve();
    await flush();
    m = pool.getMetrics();
    assert.deepEqual(callers.map((c) => c.status), [
      "fulfilled",
      "fulfilled",
      "pending",
      "pending",
      "pending",
    ]);
    assert.deepEqual([m.openConnections, m.connecting, m.waiting, m.inUse], [2, 0, 3, 2]);
    assert.equal(driver.connects, 2);
    assertConsistent(pool, driver);
  });

  it("runs a statement with execute and releases the connection", async () => {
    const { pool, driver } = harness();
    const result = await pool.execute("select 1");
    assert.deepEqual(result, { rows: [{ "?column?": 1 }], rowCount: 1, command: "SELECT" });
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
    assert.deepEqual(driver.last!.queries, ["select 1"]);
  });

  it("releases the connection when a statement run with execute fails, and rethrows its error", async () => {
    const { pool, driver } = harness();
    const duplicate = pgError("23505", "duplicate key value");
    driver.queryErrors.set("insert into t values (1)", duplicate);
    await assert.rejects(pool.execute("insert into t values (1)"), (error) => error === duplicate);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("refuses a statement text that is not a string, or params that are not an array", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    await assert.rejects(
      conn.execute(42 as unknown as string),
      new TypeError("Cannot execute: text must be a string, got number"),
    );
    await assert.rejects(
      conn.execute("select $1", "x" as unknown as unknown[]),
      new TypeError("Cannot execute: params must be an array, got string"),
    );
    assert.deepEqual(driver.last!.queries, []);
  });

  it("releases a connection at the end of an await using block", async () => {
    const { pool } = harness();
    {
      await using conn = await pool.getConnection();
      await conn.execute("select 1");
      assert.equal(pool.getMetrics().inUse, 1);
    }
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("passes the caller's signal through execute to the driver", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    driver.last!.hangQueries = true;
    const controller = new AbortController();
    const query = observe(conn.execute("select pg_sleep(10)", [], { signal: controller.signal }));
    await flush();
    assert.equal(query.status, "pending");
    const reason = new Error("cancelled");
    controller.abort(reason);
    await flush();
    assert.equal(query.reason, reason);
  });
});
