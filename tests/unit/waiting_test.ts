import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AcquireTimeoutError, ConnectTimeoutError, PoolError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness, observe } from "../support/pool_helpers.ts";

describe("waiting for a connection", () => {
  it("hands released connections to waiters in the order they asked", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const first = await pool.getConnection();
    const served: string[] = [];
    const names = ["b", "c", "d", "e"];
    const waiters = names.map((name) =>
      pool.getConnection().then((conn) => {
        served.push(name);
        return conn;
      })
    );
    await flush();
    assert.equal(pool.getMetrics().waiting, 4);
    first.release();
    for (let i = 0; i < names.length; i++) {
      const conn = await waiters[i];
      await flush();
      assert.deepEqual(served, names.slice(0, i + 1));
      assertConsistent(pool, driver);
      conn.release();
    }
    assert.equal(driver.connects, 1);
    assert.equal(pool.getMetrics().waiting, 0);
  });

  it("gives a released connection to the oldest waiter even while a connect for waiters is in flight", async () => {
    const { pool, driver } = harness({ maxOpenConns: 2, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const heldFake = await fakeOf(driver, held);
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const b = observe(pool.getConnection());
    const c = observe(pool.getConnection());
    await flush();
    assert.deepEqual([driver.connects, pool.getMetrics().connecting], [2, 1]);
    held.release();
    await flush();
    assert.deepEqual([b.status, c.status], ["fulfilled", "pending"]);
    assert.equal(await fakeOf(driver, b.value!), heldFake);
    gate.resolve();
    await flush();
    assert.equal(c.status, "fulfilled");
    assert.equal(await fakeOf(driver, c.value!), driver.connections[1]);
    assertConsistent(pool, driver);
  });

  it("rejects a wait with AcquireTimeoutError after acquireTimeout, and counts it", async () => {
    const { pool, driver, clock } = harness({ maxOpenConns: 1, acquireTimeout: 1_000 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(999);
    assert.equal(waiter.status, "pending");
    await clock.advanceAsync(1);
    assert.equal(waiter.status, "rejected");
    const error = waiter.reason;
    assert.ok(error instanceof AcquireTimeoutError);
    assert.ok(error instanceof PoolError);
    assert.equal(error.code, "ACQUIRE_TIMEOUT");
    assert.equal(error.timeout, 1_000);
    assert.equal(error.message, "Cannot get a connection: none became free within 1000 ms");
    const m = pool.getMetrics();
    assert.deepEqual([m.acquireTimeouts, m.waiting, m.waitCount, m.waitDuration], [1, 0, 2, 1_000]);
    assertConsistent(pool, driver);
    held.release();
  });

  it("puts a connection released after a wait timed out in the idle set, not with the gone waiter", async () => {
    const { pool, driver, clock } = harness({ maxOpenConns: 1, acquireTimeout: 100 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(100);
    assert.equal(waiter.status, "rejected");
    held.release();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.inUse, m.acquireCount], [1, 0, 1]);
    assert.ok(waiter.reason instanceof AcquireTimeoutError);
    assertConsistent(pool, driver);
  });

  it("stops the acquire timer when the wait ends in a hand-out", async () => {
    const { pool, clock } = harness({ maxOpenConns: 1, acquireTimeout: 100 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    assert.equal(clock.pendingTimers, 1);
    held.release();
    await flush();
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(1_000);
    assert.equal(waiter.status, "fulfilled");
    assert.equal(pool.getMetrics().acquireTimeouts, 0);
  });

  it("never times out a wait when acquireTimeout is 0", async () => {
    const { pool, clock } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const waiter = observe(pool.getConnection());
    assert.equal(clock.pendingTimers, 0);
    await clock.advanceAsync(2 ** 31);
    assert.equal(waiter.status, "pending");
    held.release();
    await flush();
    assert.equal(waiter.status, "fulfilled");
  });

  it("uses the timeout given to getConnection instead of acquireTimeout", async () => {
    const { pool, clock } = harness({ maxOpenConns: 1, acquireTimeout: 1_000 });
    const held = await pool.getConnection();
    const short = observe(pool.getConnection({ timeout: 100 }));
    const unlimited = observe(pool.getConnection({ timeout: 0 }));
    const usual = observe(pool.getConnection());
    await clock.advanceAsync(100);
    assert.deepEqual([short.status, unlimited.status, usual.status], [
      "rejected",
      "pending",
      "pending",
    ]);
    assert.equal((short.reason as AcquireTimeoutError).timeout, 100);
    await clock.advanceAsync(900);
    assert.deepEqual([unlimited.status, usual.status], ["pending", "rejected"]);
    assert.equal((usual.reason as AcquireTimeoutError).timeout, 1_000);
    await clock.advanceAsync(1_000_000);
    assert.equal(unlimited.status, "pending");
    assert.equal(pool.getMetrics().acquireTimeouts, 2);
    held.release();
    await flush();
    assert.equal(unlimited.status, "fulfilled");
  });

  it("rejects at once with the reason of a signal that already aborted, even with an idle connection", async () => {
    const { pool, driver } = harness();
    (await pool.getConnection()).release();
    const reason = new Error("gave up");
    await assert.rejects(
      pool.getConnection({ signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.inUse, m.waitCount, m.acquireCount], [1, 0, 1, 1]);
    assert.equal(driver.connects, 1);
  });

  it("opens nothing for a caller whose signal already aborted", async () => {
    const { pool, driver } = harness();
    const signal = AbortSignal.abort();
    await assert.rejects(pool.getConnection({ signal }), (error) => error === signal.reason);
    assert.equal(driver.connects, 0);
    assert.equal(pool.getMetrics().waitCount, 0);
  });

  it("removes a waiter at once when its signal aborts, and rejects it with the signal's reason", async () => {
    const { pool, driver, clock } = harness({ maxOpenConns: 1, acquireTimeout: 1_000 });
    const held = await pool.getConnection();
    const controller = new AbortController();
    const waiter = observe(pool.getConnection({ signal: controller.signal }));
    await clock.advanceAsync(300);
    assert.equal(pool.getMetrics().waiting, 1);
    const reason = new Error("client went away");
    controller.abort(reason);
    assert.equal(pool.getMetrics().waiting, 0);
    assert.equal(clock.pendingTimers, 0);
    await flush();
    assert.equal(waiter.reason, reason);
    held.release();
    await clock.advanceAsync(5_000);
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.inUse, m.acquireTimeouts, m.waitDuration], [1, 0, 0, 300]);
    assert.equal(waiter.status, "rejected");
    assertConsistent(pool, driver);
  });

  it("rejects with the signal's default reason when aborted without one", async () => {
    const { pool } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const controller = new AbortController();
    const waiter = observe(pool.getConnection({ signal: controller.signal }));
    controller.abort();
    await flush();
    assert.equal(waiter.reason, controller.signal.reason);
    assert.equal((waiter.reason as Error).name, "AbortError");
    held.release();
  });

  it("never hands a connection to a waiter that aborted, and serves the next one instead", async () => {
    const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const controller = new AbortController();
    const gone = observe(pool.getConnection({ signal: controller.signal }));
    const next = observe(pool.getConnection());
    controller.abort(new Error("gone"));
    held.release();
    await flush();
    assert.deepEqual([gone.status, next.status], ["rejected", "fulfilled"]);
    assert.equal(pool.getMetrics().inUse, 1);
    assertConsistent(pool, driver);
  });

  it("puts a connection opened for a waiter that aborted in the idle set", async () => {
    const { pool, driver } = harness({ acquireTimeout: 0 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const controller = new AbortController();
    const waiter = observe(pool.getConnection({ signal: controller.signal }));
    await flush();
    controller.abort(new Error("gone"));
    assert.equal(pool.getMetrics().connecting, 1, "the connect in flight is not cancelled");
    gate.resolve();
    await flush();
    assert.equal(waiter.status, "rejected");
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.inUse, m.connecting, m.connectionsCreated], [1, 0, 0, 1]);
    assertConsistent(pool, driver);
  });

  it("stops listening to the caller's signal once the wait ends", async () => {
    const { pool } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const held = await pool.getConnection();
    const controller = new AbortController();
    const signal = controller.signal;
    let listeners = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    const waiter = observe(pool.getConnection({ signal }));
    assert.equal(listeners, 1);
    held.release();
    await flush();
    assert.equal(listeners, 0);
    controller.abort(new Error("late"));
    await flush();
    assert.equal(waiter.status, "fulfilled");
    assert.equal(pool.getMetrics().inUse, 1);
    await waiter.value!.execute("select 1");
  });

  it("fails every waiter at once when a connect fails for a reason retrying cannot fix", async () => {
    const { pool, driver, errors } = harness({ acquireTimeout: 0 });
    const badPassword = new Error("password authentication failed");
    driver.permanentErrors.add(badPassword);
    driver.failConnects(1, badPassword);
    const a = observe(pool.getConnection());
    const b = observe(pool.getConnection());
    await flush();
    assert.equal(a.reason, badPassword);
    assert.equal(b.reason, badPassword);
    const m = pool.getMetrics();
    assert.deepEqual([m.connectErrors, m.connectionsCreated, m.idle, m.waiting], [1, 1, 1, 0]);
    assert.deepEqual(errors, [], "the callers learned of it, so onError is not told");
    assertConsistent(pool, driver);
  });

  it("keeps waiters waiting and retries with growing, jittered delays while connects fail", async () => {
    const { pool, driver, clock, errors } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
    const refused = new Error("connection refused");
    driver.failConnects(2, refused);
    const callers = Array.from({ length: 3 }, () => observe(pool.getConnection()));
    await flush();
    assert.deepEqual(callers.map((c) => c.status), ["pending", "pending", "pending"]);
    assert.equal(driver.connects, 1);
    // The manual clock's random() is 0: each delay is half its ceiling of 100 ms, 200 ms, ...
    await clock.advanceAsync(49);
    assert.equal(driver.connects, 1, "no retry before the backoff ends");
    await clock.advanceAsync(1);
    assert.equal(driver.connects, 2);
    await clock.advanceAsync(99);
    assert.equal(driver.connects, 2);
    await clock.advanceAsync(1);
    assert.equal(driver.connects, 3);
    assert.deepEqual(callers.map((c) => c.status), ["fulfilled", "pending", "pending"]);
    assert.deepEqual(errors, [[refused, "connect"], [refused, "connect"]]);
    assert.equal(pool.getMetrics().connectErrors, 2);
    callers[0].value!.release();
    await flush();
    assert.equal(callers[1].status, "fulfilled");
    assertConsistent(pool, driver);
  });

  it("opens at most maxConnecting connections at once", async () => {
    const { pool, driver } = harness({ maxOpenConns: 10, maxConnecting: 2, acquireTimeout: 0 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const callers = Array.from({ length: 6 }, () => observe(pool.getConnection()));
    await flush();
    assert.equal(pool.getMetrics().connecting, 2);
    driver.connectGate = undefined;
    gate.resolve();
    await flush();
    assert.deepEqual(callers.map((c) => c.status), Array(6).fill("fulfilled"));
    assert.equal(driver.connects, 6);
    assertConsistent(pool, driver);
  });

  it("treats a driver whose connect throws like a failed connect", async () => {
    const { pool, driver } = harness({ acquireTimeout: 0 });
    const broken = new Error("bad connection string");
    driver.permanentErrors.add(broken);
    driver.connect = () => {
      throw broken;
    };
    await assert.rejects(pool.getConnection(), (error) => error === broken);
    const m = pool.getMetrics();
    assert.deepEqual([m.connectErrors, m.connecting, m.openConnections, m.waiting], [1, 0, 0, 0]);
  });

  it("reports a failed connect to onError when no caller waits for it", async () => {
    const { pool, driver, errors } = harness({ acquireTimeout: 0 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const refused = new Error("connection refused");
    driver.failConnects(1, refused);
    const controller = new AbortController();
    observe(pool.getConnection({ signal: controller.signal }));
    await flush();
    controller.abort();
    gate.resolve();
    await flush();
    assert.deepEqual(errors, [[refused, "connect"]]);
    assert.deepEqual([pool.getMetrics().connectErrors, pool.getMetrics().connecting], [1, 0]);
  });

  it("gives up a connect after connectTimeout, retries, and names the cause when the wait ends", async () => {
    const { pool, driver, clock } = harness({ connectTimeout: 500, acquireTimeout: 2_000 });
    const signals: AbortSignal[] = [];
    const connect = driver.connect.bind(driver);
    driver.connect = (signal) => {
      signals.push(signal);
      return connect(signal);
    };
    driver.connectGate = new Promise(() => {});
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(500);
    assert.equal(signals[0].aborted, true);
    const timedOut = signals[0].reason;
    assert.ok(timedOut instanceof ConnectTimeoutError);
    assert.equal(timedOut.code, "CONNECT_TIMEOUT");
    assert.equal(timedOut.timeout, 500);
    assert.equal(waiter.status, "pending", "the waiter keeps waiting for a retry");
    await clock.advanceAsync(50);
    assert.equal(signals.length, 2, "retried after the backoff");
    await clock.advanceAsync(1_450);
    const error = waiter.reason;
    assert.ok(error instanceof AcquireTimeoutError);
    assert.ok(error.cause instanceof ConnectTimeoutError, "the cause is the last connect error");
    assert.match(error.message, /last connect failed/);
    const m = pool.getMetrics();
    assert.ok(m.connectErrors >= 2);
    await pool.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it("fails the wait with AcquireTimeoutError when it is shorter than the connect, and keeps the late connection", async () => {
    const { pool, driver, clock } = harness({ connectTimeout: 5_000, acquireTimeout: 1_000 });
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(1_000);
    assert.ok(waiter.reason instanceof AcquireTimeoutError);
    assert.equal(pool.getMetrics().connecting, 1);
    gate.resolve();
    await flush();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.connecting, m.connectErrors], [1, 0, 0]);
    assertConsistent(pool, driver);
  });
});
