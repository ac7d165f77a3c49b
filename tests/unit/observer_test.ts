import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { flush } from "../support/manual_clock.ts";
import { harness, observe } from "../support/pool_helpers.ts";

describe("pool.observe", () => {
  it("reports each wait, use time and connect time from the pool's clock", async () => {
    const h = harness({ maxOpenConns: 1, validateAfterIdle: 0 });
    const events: string[] = [];
    h.pool.observe({
      acquired: (ms) => events.push(`acquired ${ms}`),
      released: (ms) => events.push(`released ${ms}`),
      connected: (ms) => events.push(`connected ${ms}`),
    });
    let open!: () => void;
    h.driver.connectGate = new Promise<void>((resolve) => open = resolve);
    const first = observe(h.pool.getConnection());
    await h.clock.advanceAsync(7);
    open();
    await flush();
    assert.equal(first.status, "fulfilled");
    await h.clock.advanceAsync(30);
    const waiter = observe(h.pool.getConnection());
    await h.clock.advanceAsync(12);
    first.value!.release();
    await flush();
    await h.clock.advanceAsync(5);
    waiter.value!.release();
    const idle = await h.pool.getConnection();
    idle.release();
    assert.deepEqual(events, [
      "connected 7",
      "acquired 7",
      "released 42",
      "acquired 12",
      "released 5",
      "acquired 0",
      "released 0",
    ]);
    await h.pool.close();
  });

  it("stops telling an observer once unregistered, and unregistering twice does nothing", async () => {
    const h = harness();
    const seen: number[] = [];
    const other: number[] = [];
    const stop = h.pool.observe({ acquired: (ms) => seen.push(ms) });
    h.pool.observe({ acquired: (ms) => other.push(ms) });
    (await h.pool.getConnection()).release();
    stop();
    stop();
    (await h.pool.getConnection()).release();
    assert.equal(seen.length, 1);
    assert.equal(other.length, 2, "the other observer is still registered");
    await h.pool.close();
  });

  it("calls methods of a class instance with the instance as this", async () => {
    const h = harness();
    class Counter {
      count = 0;
      acquired(): void {
        this.count++;
      }
    }
    const counter = new Counter();
    h.pool.observe(counter);
    (await h.pool.getConnection()).release();
    assert.equal(counter.count, 1);
    await h.pool.close();
  });

  it("reports an observer that throws to onError and lends the connection all the same", async () => {
    const h = harness({ maxOpenConns: 1 });
    const failure = new Error("observer broke");
    h.pool.observe({
      acquired: () => {
        throw failure;
      },
    });
    const conn = await h.pool.getConnection();
    conn.release();
    assert.deepEqual(h.errors, [[failure, "observer"]]);
    const metrics = h.pool.getMetrics();
    assert.equal(metrics.inUse, 0);
    assert.equal(metrics.idle, 1);
    await h.pool.close();
  });

  for (
    const [observer, message] of [
      [null, "observer must be an object, got null"],
      [undefined, "observer must be an object, got undefined"],
      [{ acquired: 1 }, "observer.acquired must be a function, got number"],
      [{ released: "x" }, "observer.released must be a function, got string"],
      [{ connected: {} }, "observer.connected must be a function, got object"],
    ] as const
  ) {
    it(`rejects ${JSON.stringify(observer) ?? "undefined"} with a TypeError naming it`, async () => {
      const h = harness();
      assert.throws(
        // @ts-expect-error: wrong on purpose
        () => h.pool.observe(observer),
        (error: Error) => error instanceof TypeError && error.message.includes(message),
      );
      await h.pool.close();
    });
  }
});
