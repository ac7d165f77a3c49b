import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionReleasedError, PoolClosedError } from "../../src/errors.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";

function isPoolClosed(message: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof PoolClosedError, `${error} is not a PoolClosedError`);
    assert.equal(error.code, "POOL_CLOSED");
    assert.equal(error.message, message);
    return true;
  };
}

describe("close", () => {
  it("rejects every waiting caller with PoolClosedError", async () => {
    const { pool, driver, clock } = harness({ maxOpenConns: 1, acquireTimeout: 1_000 });
    const held = await pool.getConnection();
    const waiters = Array.from({ length: 3 }, () => observe(pool.getConnection()));
    await clock.advanceAsync(100);
    const closed = observe(pool.close());
    assert.equal(pool.getMetrics().waiting, 0);
    await flush();
    for (const waiter of waiters) {
      assert.equal(waiter.status, "rejected");
      isPoolClosed("Cannot get a connection: the pool closed while waiting")(waiter.reason);
    }
    const m = pool.getMetrics();
    assert.deepEqual([m.waitCount, m.waitDuration, m.acquireTimeouts], [4, 300, 0]);
    held.release();
    await flush();
    assert.equal(closed.status, "fulfilled");
    assert.equal(driver.live, 0);
  });

  it("rejects every new call with PoolClosedError as soon as close is called", async () => {
    const { pool, clock } = harness();
    const held = await pool.getConnection();
    const closed = observe(pool.close());
    const refused = isPoolClosed("Cannot get a connection: the pool is closed");
    await assert.rejects(pool.getConnection(), refused);
    await assert.rejects(pool.execute("select 1"), refused);
    await assert.rejects(pool.beginTx(), refused);
    await assert.rejects(pool.transaction(() => 1), refused);
    assert.equal(pool.getMetrics().waitCount, 1, "only the first call waited");
    held.release();
    await clock.advanceAsync(0);
    assert.equal(closed.status, "fulfilled");
    await assert.rejects(pool.getConnection(), refused);
  });

  it("closes idle connections at once and resolves when none is in use", async () => {
    const { pool, driver, clock } = harness();
    const [a, b] = [await pool.getConnection(), await pool.getConnection()];
    a.release();
    b.release();
    await pool.close();
    assert.deepEqual(driver.connections.map((fake) => fake.closed), [true, true]);
    const m = pool.getMetrics();
    assert.deepEqual([m.openConnections, m.idle, m.inUse], [0, 0, 0]);
    assert.equal(clock.pendingTimers, 0);
  });

  it("waits for connections in use to be released, then closes them", async () => {
    const { pool, driver, clock } = harness({ closeTimeout: 10_000 });
    const conn = await pool.getConnection();
    const closed = observe(pool.close());
    await clock.advanceAsync(9_999);
    assert.equal(closed.status, "pending");
    assert.equal(driver.last!.closed, false);
    await conn.execute("select 1");
    conn.release();
    assert.equal(driver.last!.closed, true);
    await flush();
    assert.equal(closed.status, "fulfilled");
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual([pool.getMetrics().openConnections, pool.getMetrics().idle], [0, 0]);
  });

  it("closes connections still in use after closeTimeout, after which release does nothing", async () => {
    const { pool, driver, clock } = harness({ closeTimeout: 1_000 });
    const conn = await pool.getConnection();
    const closed = observe(pool.close());
    await clock.advanceAsync(999);
    assert.equal(driver.last!.closed, false);
    await clock.advanceAsync(1);
    assert.equal(closed.status, "fulfilled");
    assert.equal(driver.last!.closed, true);
    const before = pool.getMetrics();
    assert.deepEqual([before.inUse, before.openConnections], [0, 0]);
    await assert.rejects(conn.execute("select 1"), /closed/);
    conn.release();
    conn.release();
    assert.deepEqual(pool.getMetrics(), before);
    assert.equal(conn.released, true);
    await assert.rejects(conn.execute("select 1"), ConnectionReleasedError);
    assert.equal(clock.pendingTimers, 0);
  });

  it("closes a connection released mid-transaction while closing, without resetting it", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    await conn.execute("begin");
    const closed = pool.close();
    conn.release();
    await closed;
    assert.equal(driver.last!.resets, 0);
    assert.equal(driver.last!.closed, true);
    assert.equal(pool.getMetrics().connectionsLost, 0);
  });

  it("stops a reset in flight, closes its connection, and does not count it as lost", async () => {
    const { pool, driver, clock, errors } = harness({ checkTimeout: 5_000 });
    const conn = await pool.getConnection();
    await conn.execute("begin");
    driver.last!.reset = () => new Promise<void>(() => {});
    conn.release();
    assert.equal(pool.getMetrics().checking, 1);
    const closed = observe(pool.close());
    await flush();
    assert.equal(closed.status, "fulfilled");
    assert.equal(driver.last!.closed, true);
    assert.deepEqual(errors, []);
    const m = pool.getMetrics();
    assert.deepEqual([m.checking, m.openConnections, m.connectionsLost], [0, 0, 0]);
    assert.equal(clock.pendingTimers, 0);
  });

  it("returns the same promise every time it is called", async () => {
    const { pool, driver } = harness();
    (await pool.getConnection()).release();
    const first = pool.close();
    assert.equal(pool.close(), first);
    assert.equal(pool[Symbol.asyncDispose](), first);
    await first;
    assert.equal(pool.close(), first);
    assert.equal(driver.last!.closeCalls, 1);
  });

  it("leaves no timer, no open connection and no connect in flight behind", async () => {
    const { pool, driver, clock, errors } = harness({
      maxOpenConns: 3,
      healthInterval: 1_000,
      connMaxLifetime: 60_000,
      connMaxIdleTime: 30_000,
      acquireTimeout: 5_000,
      connectTimeout: 5_000,
      checkTimeout: 2_000,
      closeTimeout: 3_000,
    });
    const checked = await pool.getConnection();
    const held = await pool.getConnection();
    checked.release();
    driver.connections[0].hangPings = true;
    await clock.advanceAsync(1_000);
    let connectSignal: AbortSignal | undefined;
    const connect = driver.connect.bind(driver);
    driver.connect = (signal) => {
      connectSignal = signal;
      return connect(signal);
    };
    driver.connectGate = new Promise(() => {});
    const waiters = [observe(pool.getConnection()), observe(pool.getConnection())];
    await flush();
    let m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.checking, m.connecting, m.waiting], [1, 1, 1, 2]);
    assertConsistent(pool, driver);

    const closed = observe(pool.close());
    await flush();
    assert.equal(connectSignal!.aborted, true);
    assert.deepEqual(waiters.map((waiter) => waiter.status), ["rejected", "rejected"]);
    m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.checking, m.connecting, m.waiting], [1, 0, 0, 0]);
    assert.equal(closed.status, "pending");
    await clock.advanceAsync(3_000);
    assert.equal(closed.status, "fulfilled");

    m = pool.getMetrics();
    assert.deepEqual([m.openConnections, m.inUse, m.idle, m.checking, m.connecting], [
      0,
      0,
      0,
      0,
      0,
    ]);
    assert.ok(driver.connections.every((fake) => fake.closed));
    assert.equal(driver.live, 0);
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(errors, [], "nothing the pool stopped itself is reported");
    assert.deepEqual([m.healthChecksFailed, m.connectErrors, m.connectionsLost], [0, 0, 0]);
    held.release();
    await clock.advanceAsync(1_000_000);
    assert.equal(driver.connects, 3);
  });

  it("closes a connection that a driver ignoring the signal delivers after close", async () => {
    const fakes = new FakeDriver();
    const gate = Promise.withResolvers<void>();
    const pool = new ConnectionPool({
      driver: {
        connect: () => gate.promise.then(() => fakes.connect(new AbortController().signal)),
      },
      clock: new ManualClock(),
      acquireTimeout: 0,
    });
    const waiter = observe(pool.getConnection());
    await pool.close();
    assert.equal(waiter.status, "rejected");
    gate.resolve();
    await flush();
    assert.equal(fakes.connections.length, 1);
    assert.equal(fakes.live, 0);
    assert.equal(pool.getMetrics().openConnections, 0);
  });

  it("closes the pool at the end of an await using block", async () => {
    const driver = new FakeDriver();
    const clock = new ManualClock();
    {
      await using pool = new ConnectionPool({ driver, clock });
      (await pool.getConnection()).release();
      assert.equal(driver.live, 1);
    }
    assert.equal(driver.live, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});
