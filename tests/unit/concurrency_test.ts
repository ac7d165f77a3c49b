import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AcquireTimeoutError } from "../../src/errors.ts";
import type { FakeConnection } from "../support/fake_driver.ts";
import { assertConsistent, fakeOf, harness } from "../support/pool_helpers.ts";

/** A deterministic generator of numbers in [0, 1). */
function random(seed: number): () => number {
  return () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

describe("many concurrent callers", () => {
  it("serves 500 callers on 10 connections in arrival order, never lending a connection twice", async () => {
    const { pool, driver } = harness({ maxOpenConns: 10, acquireTimeout: 0 });
    const holders = new Map<FakeConnection, number>();
    const requested: number[] = [];
    const granted: number[] = [];
    let ticket = 0;
    let mostOpen = 0;
    let done = 0;
    const caller = async (id: number) => {
      for (let round = 0; round < 4; round++) {
        const mine = ticket++;
        requested.push(mine);
        const conn = await pool.getConnection();
        granted.push(mine);
        assertConsistent(pool, driver);
        mostOpen = Math.max(mostOpen, pool.getMetrics().openConnections, driver.live);
        const fake = await fakeOf(driver, conn);
        assert.equal(holders.get(fake), undefined, `connection ${fake.id} lent to two callers`);
        holders.set(fake, id);
        for (let i = 0; i < (id + round) % 4; i++) await Promise.resolve();
        assert.equal(holders.get(fake), id);
        holders.delete(fake);
        conn.release();
      }
      done++;
    };
    await Promise.all(Array.from({ length: 500 }, (_, id) => caller(id)));
    assert.equal(done, 500);
    assert.equal(granted.length, 2_000);
    assert.deepEqual(granted, requested, "connections were handed out in the order asked for");
    assert.equal(mostOpen, 10);
    assert.equal(driver.connects, 10);
    const m = pool.getMetrics();
    assert.deepEqual([m.acquireCount, m.inUse, m.idle, m.waiting], [2_000, 0, 10, 0]);
    await pool.close();
    assert.equal(driver.live, 0);
  });

  it("stays consistent under timeouts, aborts, failed connects, dirty releases and retirements", async () => {
    const { pool, driver, clock, errors } = harness({
      maxOpenConns: 4,
      maxIdleConns: 2,
      connMaxLifetime: 2_000,
      connMaxIdleTime: 1_000,
      healthInterval: 500,
      acquireTimeout: 300,
      checkTimeout: 100,
    });
    const next = random(7);
    driver.onOpen = (fake) => {
      if (fake.id % 3 !== 0) fake.pingError = new Error("bad ping");
    };
    const refused = new Error("connection refused");
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    const holders = new Map<FakeConnection, number>();
    const outcomes = { served: 0, timedOut: 0, aborted: 0, refused: 0 };
    let done = 0;
    // 240 callers spread over 5 s, a quiet spell for health checks and idle limits, then a
    // burst of 60 callers at 9 s that holds connections long enough for waits to time out.
    const caller = async (id: number) => {
      const burst = id >= 240;
      await sleep(burst ? 9_000 : Math.floor(next() * 5_000));
      for (let round = 0; round < 3; round++) {
        if (!burst) await sleep(Math.floor(next() * 1_000));
        const choice = next();
        const controller = new AbortController();
        const abortReason = new Error(`caller ${id} gave up`);
        if (choice < 0.2) clock.setTimeout(() => controller.abort(abortReason), 50);
        try {
          const conn = await pool.getConnection({
            signal: controller.signal,
            timeout: choice > 0.9 ? 0 : undefined,
          });
          outcomes.served++;
          const fake = await fakeOf(driver, conn);
          assert.equal(holders.get(fake), undefined, `connection ${fake.id} lent to two callers`);
          holders.set(fake, id);
          if (next() < 0.3) await conn.execute("begin");
          await sleep(burst ? 200 : Math.floor(next() * 100));
          holders.delete(fake);
          conn.release();
        } catch (error) {
          if (error instanceof AcquireTimeoutError) outcomes.timedOut++;
          else if (error === abortReason) outcomes.aborted++;
          else if (error === refused) outcomes.refused++;
          else throw error;
        }
      }
      done++;
    };
    const callers = Promise.all(Array.from({ length: 300 }, (_, id) => caller(id)));
    let mostOpen = 0;
    for (let step = 0; step < 2_000 && done < 300; step++) {
      if (next() < 0.02) driver.failConnects(1, refused);
      await clock.advanceAsync(10);
      assertConsistent(pool, driver);
      mostOpen = Math.max(mostOpen, driver.live + pool.getMetrics().connecting);
    }
    await callers;
    assert.equal(done, 300);
    const m = pool.getMetrics();
    assert.equal(outcomes.served + outcomes.timedOut + outcomes.aborted + outcomes.refused, 900);
    assert.equal(m.acquireCount, outcomes.served);
    assert.equal(m.acquireTimeouts, outcomes.timedOut);
    const reported = errors.filter(([, event]) => event === "connect").length;
    assert.equal(m.connectErrors, outcomes.refused + reported);
    assert.equal(
      m.healthChecksFailed,
      errors.filter(([, event]) => event === "healthCheck").length,
    );
    assert.equal(errors.length, reported + m.healthChecksFailed, "no other background failure");
    assert.ok(
      outcomes.served > 0 && outcomes.timedOut > 0 && outcomes.aborted > 0,
      JSON.stringify(outcomes),
    );
    assert.ok(m.maxLifetimeClosed + m.maxIdleTimeClosed + m.maxIdleClosed > 0);
    assert.ok(m.healthChecksPassed > 0 && m.healthChecksFailed > 0, JSON.stringify(m));
    assert.ok(mostOpen <= 4);
    assert.deepEqual([m.inUse, m.waiting, m.checking], [0, 0, 0]);
    await pool.close();
    assert.equal(driver.live, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});
