import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pgError } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";

describe("transaction retries", () => {
  it("runs the work again after serialization failures until it commits, counting each retry", async () => {
    const { pool, driver, clock } = harness();
    let runs = 0;
    const result = observe(pool.transaction(async (tx) => {
      runs++;
      await tx.execute("select 1");
      if (runs < 3) throw pgError("40001");
      return "done";
    }, { retries: 2 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.status, "fulfilled");
    assert.equal(result.value, "done");
    assert.equal(runs, 3);
    assert.equal(pool.getMetrics().retries, 2);
    assert.deepEqual(
      driver.last!.queries.filter((text) => text !== "select 1"),
      ["begin", "rollback", "begin", "rollback", "begin", "commit"],
    );
    assertConsistent(pool, driver);
  });

  it("rethrows the last failure once the retries are spent", async () => {
    const { pool, clock } = harness();
    let runs = 0;
    const failures = [pgError("40P01"), pgError("40001")];
    const result = observe(pool.transaction(() => {
      throw failures[runs++];
    }, { retries: 1 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.status, "rejected");
    assert.equal(result.reason, failures[1]);
    assert.deepEqual([runs, pool.getMetrics().retries], [2, 1]);
  });

  it("retries a deadlock reported by COMMIT, which rolled the transaction back", async () => {
    const { pool, driver, clock } = harness();
    driver.queryErrors.set("commit", pgError("40P01"));
    let runs = 0;
    const result = observe(pool.transaction(() => {
      if (++runs === 2) driver.queryErrors.delete("commit");
      return runs;
    }, { retries: 3 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.status, "fulfilled");
    assert.deepEqual([result.value, pool.getMetrics().retries], [2, 1]);
  });

  it("never retries an error the server answered that is not a conflict", async () => {
    const { pool, clock } = harness();
    let runs = 0;
    const duplicate = pgError("23505");
    const result = observe(pool.transaction(() => {
      runs++;
      throw duplicate;
    }, { retries: 5 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.reason, duplicate);
    assert.deepEqual([runs, pool.getMetrics().retries], [1, 0]);
  });

  it("runs the work again on a new connection when its connection died before COMMIT was sent", async () => {
    const { pool, driver, clock } = harness();
    let runs = 0;
    const result = observe(pool.transaction(async (tx) => {
      if (++runs === 1) driver.last!.dieOnQuery = new Error("connection reset");
      await tx.execute("insert into t values (1)");
      return runs;
    }, { retries: 1 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.status, "fulfilled");
    assert.equal(result.value, 2);
    const m = pool.getMetrics();
    assert.deepEqual([m.retries, m.connectionsCreated, m.connectionsLost], [1, 2, 1]);
    assertConsistent(pool, driver);
  });

  it("runs the transaction on a new connection when BEGIN found its connection dead", async () => {
    const { pool, driver, clock } = harness();
    driver.onOpen = (fake) => {
      if (fake.id === 1) fake.dieBeforeQuery = new Error("connection reset");
    };
    let runs = 0;
    const result = observe(pool.transaction(() => ++runs, { retries: 1 }));
    await clock.advanceAsync(100);
    assert.equal(result.value, 1, "the work ran once, on the second connection");
    assert.deepEqual([pool.getMetrics().retries, driver.connections.length], [1, 2]);
    assertConsistent(pool, driver);
  });

  it("does not retry when the connection died during COMMIT, as it may have committed", async () => {
    const { pool, driver, clock } = harness();
    let runs = 0;
    const lost = new Error("connection reset during commit");
    const result = observe(pool.transaction(() => {
      runs++;
      driver.last!.dieOnQuery = lost;
    }, { retries: 3 }));
    await clock.advanceAsync(1_000);
    assert.equal(result.reason, lost);
    assert.deepEqual([runs, pool.getMetrics().retries], [1, 0]);
    assertConsistent(pool, driver);
  });

  it("waits between half and all of 10 ms before the first retry, and twice that before the second", async () => {
    for (const random of [0, 0.5, 0.999]) {
      const { pool, clock } = harness();
      clock.random = () => random;
      const starts: number[] = [];
      const result = observe(pool.transaction(() => {
        starts.push(clock.now());
        throw pgError("40001");
      }, { retries: 2 }));
      await clock.advanceAsync(100);
      assert.equal(result.status, "rejected");
      const [first, second] = [starts[1] - starts[0], starts[2] - starts[1]];
      assert.equal(starts.length, 3);
      assert.ok(Math.abs(first - (5 + 5 * random)) < 1e-9, `first pause ${first} at ${random}`);
      assert.ok(Math.abs(second - (10 + 10 * random)) < 1e-9, `second pause ${second}`);
      assert.ok(first >= 5 && first < 10 && second >= 10 && second < 20);
    }
  });

  it("stops waiting to retry when the signal aborts, with its reason", async () => {
    const { pool, clock } = harness();
    const controller = new AbortController();
    let runs = 0;
    const result = observe(pool.transaction(() => {
      runs++;
      throw pgError("40001");
    }, { retries: 3, signal: controller.signal }));
    await flush();
    controller.abort(new Error("gave up"));
    await clock.advanceAsync(1_000);
    assert.equal((result.reason as Error).message, "gave up");
    assert.equal(runs, 1);
  });

  it("refuses a retries that is not a non-negative integer, naming it and the value", async () => {
    const { pool } = harness();
    for (
      const [retries, type, shown] of [[-1, RangeError, "-1"], [1.5, RangeError, "1.5"], [
        "2",
        TypeError,
        '"2"',
      ]] as const
    ) {
      await assert.rejects(
        pool.transaction(() => 1, { retries: retries as number }),
        (error: Error) =>
          error instanceof type && error.message.includes("retries") &&
          error.message.includes(`got ${shown}`),
      );
    }
    assert.equal(pool.getMetrics().acquireCount, 0, "refused before taking a connection");
  });
});

describe("execute retries", () => {
  it("retries on another connection a statement whose connection was found dead before sending", async () => {
    const { pool, driver, clock } = harness();
    driver.onOpen = (fake) => {
      if (fake.id === 1) fake.dieBeforeQuery = new Error("connection reset");
    };
    const result = observe(pool.execute("select 1"));
    await clock.advanceAsync(100);
    assert.equal(result.status, "fulfilled");
    assert.deepEqual(result.value!.rows, [{ "?column?": 1 }]);
    const m = pool.getMetrics();
    assert.deepEqual([m.retries, m.connectionsCreated], [1, 2]);
    assertConsistent(pool, driver);
  });

  it("gives up after 3 retries, with the last error", async () => {
    const { pool, driver, clock } = harness();
    driver.onOpen = (fake) => fake.dieBeforeQuery = new Error(`connection ${fake.id} reset`);
    const result = observe(pool.execute("select 1"));
    await clock.advanceAsync(1_000);
    assert.equal(result.status, "rejected");
    assert.match((result.reason as Error).message, /closed/);
    assert.deepEqual([pool.getMetrics().retries, driver.connections.length], [3, 4]);
  });

  it("retries a statement whose connection died while it ran only when it is idempotent", async () => {
    for (const idempotent of [false, true]) {
      const { pool, driver, clock } = harness();
      const reset = new Error("connection reset mid-statement");
      driver.onOpen = (fake) => {
        if (fake.id === 1) fake.dieOnQuery = reset;
      };
      const result = observe(pool.execute("update t set n = 1", [], { idempotent }));
      await clock.advanceAsync(100);
      if (idempotent) {
        assert.equal(result.status, "fulfilled");
        assert.equal(pool.getMetrics().retries, 1);
      } else {
        assert.equal(result.reason, reset);
        assert.equal(pool.getMetrics().retries, 0);
      }
      assertConsistent(pool, driver);
    }
  });

  it("never retries an error the server answered, even when idempotent", async () => {
    const { pool, driver, clock } = harness();
    const conflict = pgError("40001");
    driver.queryErrors.set("select 1", conflict);
    const result = observe(pool.execute("select 1", [], { idempotent: true }));
    await clock.advanceAsync(100);
    assert.equal(result.reason, conflict);
    assert.deepEqual([pool.getMetrics().retries, driver.last!.queries], [0, ["select 1"]]);
  });

  it("refuses an idempotent that is not a boolean, naming it", async () => {
    const { pool } = harness();
    await assert.rejects(
      pool.execute("select 1", [], { idempotent: "yes" as unknown as boolean }),
      (error: Error) =>
        error instanceof TypeError && /idempotent must be a boolean/.test(error.message),
    );
  });
});
