import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import { resolvePoolOptions } from "../../src/_core/options.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { assertConsistent, harness } from "../support/pool_helpers.ts";

/** A random source that answers `values` in turn and counts its calls. */
function scripted(values: number[]): { random: () => number; calls: () => number } {
  let calls = 0;
  return { random: () => values[calls++ % values.length], calls: () => calls };
}

describe("connMaxLifetime jitter", () => {
  it("shortens each connection's lifetime by random() times connMaxLifetimeJitter", async () => {
    const { pool, driver, clock } = harness({
      connMaxLifetime: 10_000,
      connMaxLifetimeJitter: 1_000,
    });
    clock.random = scripted([0, 0.5, 0.999]).random;
    const held = [
      await pool.getConnection(),
      await pool.getConnection(),
      await pool.getConnection(),
    ];
    // Lifetimes end at 10,000, 9,500 and 9,001 ms.
    await clock.advanceAsync(9_500);
    for (const conn of held) conn.release();
    const m = pool.getMetrics();
    assert.deepEqual([m.idle, m.maxLifetimeClosed], [1, 2]);
    assert.deepEqual(driver.connections.map((fake) => fake.closed), [false, true, true]);
    assertConsistent(pool, driver);
  });

  it("spreads the expiry of connections opened together across the jitter window", async () => {
    const { pool, driver, clock } = harness({
      connMaxLifetime: 10_000,
      connMaxLifetimeJitter: 4_000,
    });
    clock.random = scripted([0.9, 0.6, 0.3, 0]).random;
    const held = await Promise.all([1, 2, 3, 4].map(() => pool.getConnection()));
    for (const conn of held) conn.release();
    // Lifetimes end at 6,400, 7,600, 8,800 and 10,000 ms; the sweep runs every 2,500 ms.
    const closedAt: number[] = [];
    for (let t = 0; t < 10_000; t += 2_500) {
      await clock.advanceAsync(2_500);
      closedAt.push(pool.getMetrics().maxLifetimeClosed);
      assertConsistent(pool, driver);
    }
    assert.deepEqual(closedAt, [0, 0, 1, 4]);
  });

  it("defaults the jitter to a tenth of connMaxLifetime", async () => {
    assert.equal(
      resolvePoolOptions({ driver: new FakeDriver(), connMaxLifetime: 60_000 })
        .connMaxLifetimeJitter,
      6_000,
    );
    const { pool, clock } = harness({ connMaxLifetime: 10_000 });
    clock.random = () => 0.5;
    const conn = await pool.getConnection();
    await clock.advanceAsync(9_499);
    conn.release();
    assert.equal(pool.getMetrics().maxLifetimeClosed, 0, "lives until 9,500 ms");
    const again = await pool.getConnection();
    await clock.advanceAsync(1);
    again.release();
    assert.equal(pool.getMetrics().maxLifetimeClosed, 1);
  });

  it("never retires a connection in use, and closes it on release once its lifetime has passed", async () => {
    const { pool, driver, clock } = harness({
      connMaxLifetime: 4_000,
      connMaxLifetimeJitter: 1_000,
    });
    clock.random = () => 0.5;
    const conn = await pool.getConnection();
    await clock.advanceAsync(20_000);
    assert.equal(driver.last!.closed, false, "sweeps passed it by while in use");
    assert.equal(pool.getMetrics().inUse, 1);
    conn.release();
    assert.equal(driver.last!.closed, true);
    assert.deepEqual([pool.getMetrics().maxLifetimeClosed, pool.getMetrics().idle], [1, 0]);
    assertConsistent(pool, driver);
  });

  it("draws no random number when the jitter or the lifetime is 0", async () => {
    for (const options of [{ connMaxLifetime: 10_000, connMaxLifetimeJitter: 0 }, {}]) {
      const { pool, clock } = harness(options);
      const source = scripted([0.5]);
      clock.random = source.random;
      (await pool.getConnection()).release();
      assert.equal(source.calls(), 0);
    }
  });

  it("uses Math.random() when the clock has no random()", async () => {
    const clock = new ManualClock();
    delete (clock as { random?: unknown }).random;
    const saved = Math.random;
    Math.random = () => 0.5;
    try {
      const pool = new ConnectionPool({
        driver: new FakeDriver(),
        clock,
        connMaxLifetime: 10_000,
        connMaxLifetimeJitter: 2_000,
        connMaxIdleTime: 0,
        healthInterval: 0,
      });
      const conn = await pool.getConnection();
      Math.random = saved;
      await clock.advanceAsync(8_999);
      conn.release();
      assert.equal(pool.getMetrics().maxLifetimeClosed, 0, "lives until 9,000 ms");
      const again = await pool.getConnection();
      await clock.advanceAsync(1);
      again.release();
      assert.equal(pool.getMetrics().maxLifetimeClosed, 1);
      await pool.close();
    } finally {
      Math.random = saved;
    }
  });

  it("refuses a jitter longer than the lifetime, a bad duration, or a clock.random that is not a function", () => {
    const driver = new FakeDriver();
    const create = (options: Record<string, unknown>) =>
      new ConnectionPool({ driver, clock: new ManualClock(), ...options } as PoolOptions);
    assert.throws(
      () => create({ connMaxLifetime: 1_000, connMaxLifetimeJitter: 1_001 }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          "Cannot create pool: connMaxLifetimeJitter (1001) exceeds connMaxLifetime (1000)",
    );
    assert.throws(() => create({ connMaxLifetimeJitter: -1 }), RangeError);
    assert.throws(() => create({ connMaxLifetimeJitter: "5" }), TypeError);
    const clock = Object.assign(new ManualClock(), { random: 0.5 });
    assert.throws(
      () => new ConnectionPool({ driver, clock } as unknown as PoolOptions),
      TypeError,
    );
    create({ connMaxLifetime: 1_000, connMaxLifetimeJitter: 1_000 });
    create({ connMaxLifetime: 0, connMaxLifetimeJitter: 5_000 });
  });
});
