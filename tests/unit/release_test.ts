import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionReleasedError, PoolError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("release", () => {
  it("does nothing the second time", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    conn.release();
    const before = pool.getMetrics();
    conn.release();
    await conn[Symbol.asyncDispose]();
    assert.deepEqual(pool.getMetrics(), before);
    assert.deepEqual([before.idle, before.inUse], [1, 0]);
    assertConsistent(pool, driver);
  });

  it("does not hand the connection to a second waiter when called twice", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const a = await pool.getConnection();
    const b = observe(pool.getConnection());
    const c = observe(pool.getConnection());
    a.release();
    a.release();
    await flush();
    assert.equal(b.status, "fulfilled");
    assert.equal(c.status, "pending");
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().waiting], [1, 1]);
    assertConsistent(pool, driver);
  });

  it("rejects a statement on a released connection with ConnectionReleasedError", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    conn.release();
    await assert.rejects(conn.execute("select 1"), (error) => {
      assert.ok(error instanceof ConnectionReleasedError);
      assert.ok(error instanceof PoolError);
      assert.equal(error.code, "CONNECTION_RELEASED");
      assert.equal(error.message, "Cannot execute: the connection was released to the pool");
      return true;
    });
    assert.deepEqual(driver.last!.queries, []);
  });

  it("leaves an old handle released when its connection is lent again", async () => {
    const { pool, driver } = harness();
    const first = await pool.getConnection();
    const fake = await fakeOf(driver, first);
    first.release();
    const second = await pool.getConnection();
    assert.equal(await fakeOf(driver, second), fake);
    await assert.rejects(first.execute("select 1"), ConnectionReleasedError);
    first.release();
    assert.equal(second.released, false);
    assert.equal(pool.getMetrics().inUse, 1);
    await second.execute("select 1");
  });

  it("rolls back a connection released inside a transaction before lending it again", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    await conn.execute("begin");
    const fake = driver.last!;
    assert.equal(fake.dirty, true);
    conn.release();
    assert.equal(fake.resets, 1);
    await flush();
    assert.equal(fake.dirty, false);
    const next = await pool.getConnection();
    assert.equal(await fakeOf(driver, next), fake);
    assert.equal(driver.connects, 1);
    assert.equal(pool.getMetrics().connectionsLost, 0);
  });

  it("counts a connection being reset as checking, and hands it to a waiter once clean", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const conn = await pool.getConnection();
    await conn.execute("begin");
    const fake = driver.last!;
    let finishReset!: () => void;
    fake.reset = () => new Promise<void>((resolve) => finishReset = resolve);
    const waiter = observe(pool.getConnection());
    conn.release();
    let m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.idle, m.checking, m.waiting, m.openConnections], [0, 0, 1, 1, 1]);
    assertConsistent(pool, driver);
    await flush();
    assert.equal(waiter.status, "pending");
    fake.transaction = "idle";
    finishReset();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal(await fakeOf(driver, waiter.value!), fake);
    m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.checking, m.waiting], [1, 0, 0]);
    assertConsistent(pool, driver);
  });

  it("closes a connection whose reset fails, counts it lost, and reports it as a reset failure", async () => {
    const { pool, driver, errors } = harness();
    const conn = await pool.getConnection();
    await conn.execute("begin");
    const fake = driver.last!;
    const failure = new Error("cannot roll back");
    fake.resetError = failure;
    conn.release();
    await flush();
    assert.equal(fake.closed, true);
    const m = pool.getMetrics();
    assert.deepEqual([m.openConnections, m.idle, m.checking, m.connectionsLost], [0, 0, 0, 1]);
    assert.deepEqual(errors, [[failure, "reset"]]);
    const next = await pool.getConnection();
    assert.notEqual(await fakeOf(driver, next), fake);
    assertConsistent(pool, driver);
  });

  it("gives up on a reset that does not answer within checkTimeout and closes the connection", async () => {
    const { pool, driver, clock, errors } = harness({ checkTimeout: 500 });
    const conn = await pool.getConnection();
    await conn.execute("begin");
    const fake = driver.last!;
    let resetSignal: AbortSignal | undefined;
    fake.reset = (signal) => {
      resetSignal = signal;
      return new Promise<void>(() => {});
    };
    conn.release();
    await clock.advanceAsync(499);
    assert.equal(pool.getMetrics().checking, 1);
    assert.equal(fake.closed, false);
    await clock.advanceAsync(1);
    assert.equal(resetSignal!.aborted, true);
    assert.equal(fake.closed, true);
    assert.equal(pool.getMetrics().checking, 0);
    assert.equal(pool.getMetrics().connectionsLost, 1);
    assert.equal(errors.length, 1);
    const [error, event] = errors[0];
    assert.equal(event, "reset");
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "CHECK_TIMEOUT");
    assert.equal(clock.pendingTimers, 0);
  });

  it("retires a connection that died in use when it is released, without reporting it", async () => {
    const { pool, driver, errors } = harness();
    const conn = await pool.getConnection();
    const fake = driver.last!;
    const reset = new Error("connection reset by peer");
    fake.dieOnQuery = reset;
    await assert.rejects(conn.execute("select 1"), (error) => error === reset);
    await flush();
    let m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.openConnections, m.connectionsLost], [1, 1, 0]);
    conn.release();
    m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.idle, m.openConnections, m.connectionsLost], [0, 0, 0, 1]);
    assert.deepEqual(errors, []);
    assert.equal(fake.resets, 0);
    assertConsistent(pool, driver);
  });

  it("hands a waiter a new connection when the one released had died", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const conn = await pool.getConnection();
    const dead = driver.last!;
    const waiter = observe(pool.getConnection());
    dead.die();
    await flush();
    assert.equal(waiter.status, "pending");
    conn.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.notEqual(await fakeOf(driver, waiter.value!), dead);
    assert.equal(driver.connects, 2);
    assertConsistent(pool, driver);
  });
});
