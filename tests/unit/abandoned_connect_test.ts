import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";

describe("abandoned connects", () => {
  it("keeps the slot of a connect given up at connectTimeout until the driver lets go of it", async () => {
    const fakes = new FakeDriver();
    const clock = new ManualClock();
    const gate = Promise.withResolvers<void>();
    let calls = 0;
    const pool = new ConnectionPool({
      driver: {
        // The first connect ignores its signal, as a driver still holding a socket would.
        connect: (signal) =>
          ++calls === 1
            ? gate.promise.then(() => fakes.connect(new AbortController().signal))
            : fakes.connect(signal),
      },
      clock,
      maxOpenConns: 1,
      connectTimeout: 100,
      acquireTimeout: 10_000,
      healthInterval: 0,
      validateAfterIdle: 0,
    });
    const waiter = observe(pool.getConnection());
    await clock.advanceAsync(5_000);
    assert.equal(calls, 1, "no second socket while the first is held");
    assert.equal(pool.getMetrics().connecting, 1);
    assert.equal(waiter.status, "pending");
    gate.resolve();
    await flush();
    await clock.advanceAsync(0);
    assert.equal(calls, 2, "the slot is free once the driver let go");
    assert.equal(waiter.status, "fulfilled");
    assert.equal(fakes.connections[0].closed, true, "the late connection is closed");
    waiter.value!.release();
    await pool.close();
    assert.equal(fakes.live, 0);
  });

  it("probes a half-open breaker with a live connect, not one given up whose driver still holds it", async () => {
    const fakes = new FakeDriver();
    const clock = new ManualClock();
    const held = Promise.withResolvers<never>();
    let calls = 0;
    const pool = new ConnectionPool({
      driver: {
        // The first connect ignores its signal, until the test lets it fail.
        connect: (signal) => ++calls === 1 ? held.promise : fakes.connect(signal),
      },
      clock,
      maxOpenConns: 2,
      connectTimeout: 100,
      breakerThreshold: 1,
      healthInterval: 0,
    });
    const first = observe(pool.getConnection());
    await clock.advanceAsync(100);
    assert.equal(first.status, "rejected");
    assert.equal(pool.getMetrics().circuitState, "open");
    await clock.advanceAsync(5_000);
    assert.equal(calls, 2, "one probe beside the abandoned connect");
    assert.equal(pool.getMetrics().circuitState, "closed");
    const second = await pool.getConnection();
    second.release();
    assert.equal(pool.getMetrics().connecting, 1, "the abandoned connect still holds its slot");
    held.reject(new Error("socket closed"));
    await pool.close();
    assert.equal(pool.getMetrics().connecting, 0);
  });
});
