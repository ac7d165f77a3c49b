import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  PoolError,
  TransactionFinishedError,
  TransactionRolledBackError,
} from "../../src/errors.ts";
import type { TransactionOptions } from "../../src/transaction.ts";
import { beginStatement } from "../../src/_core/open_transaction.ts";
import { pgError } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { harness } from "../support/pool_helpers.ts";

const BEGINS: [TransactionOptions | undefined, string][] = [
  [undefined, "begin"],
  [{}, "begin"],
  [{ isolationLevel: "read uncommitted" }, "begin isolation level read uncommitted"],
  [{ isolationLevel: "read committed" }, "begin isolation level read committed"],
  [{ isolationLevel: "repeatable read" }, "begin isolation level repeatable read"],
  [{ isolationLevel: "serializable" }, "begin isolation level serializable"],
  [{ readOnly: true }, "begin read only"],
  [{ readOnly: false }, "begin read write"],
  [{ deferrable: true }, "begin deferrable"],
  [{ deferrable: false }, "begin not deferrable"],
  [
    { isolationLevel: "serializable", readOnly: true, deferrable: true },
    "begin isolation level serializable, read only, deferrable",
  ],
  [
    { isolationLevel: "repeatable read", readOnly: false },
    "begin isolation level repeatable read, read write",
  ],
];

describe("beginTx", () => {
  for (const [options, statement] of BEGINS) {
    it(`sends "${statement}" for ${JSON.stringify(options)}`, async () => {
      const { pool, driver } = harness();
      const tx = await pool.beginTx(options);
      assert.deepEqual(driver.last!.queries, [statement]);
      assert.equal(tx.status, "open");
      assert.equal(driver.last!.transaction, "open");
      await tx.rollback();
    });
  }

  it("refuses an unknown isolation level with a RangeError naming it, before taking a connection", async () => {
    const { pool, driver } = harness();
    const options = { isolationLevel: "snapshot" } as unknown as TransactionOptions;
    await assert.rejects(pool.beginTx(options), (error) => {
      assert.ok(error instanceof RangeError);
      assert.ok(error.message.startsWith("Cannot begin transaction: isolationLevel must be"));
      assert.ok(error.message.includes('"serializable"'), error.message);
      assert.ok(error.message.endsWith('got "snapshot"'), error.message);
      return true;
    });
    assert.throws(() => beginStatement(options), RangeError);
    assert.equal(driver.connects, 0);
  });

  it("refuses readOnly or deferrable that are not booleans with a TypeError naming them", async () => {
    const { pool, driver } = harness();
    await assert.rejects(
      pool.beginTx({ readOnly: "yes" } as unknown as TransactionOptions),
      new TypeError("Cannot begin transaction: readOnly must be a boolean, got string"),
    );
    await assert.rejects(
      pool.beginTx({ deferrable: 1 } as unknown as TransactionOptions),
      new TypeError("Cannot begin transaction: deferrable must be a boolean, got number"),
    );
    assert.equal(driver.connects, 0);
  });

  it("releases the connection when BEGIN fails, and rethrows its error", async () => {
    const { pool, driver } = harness();
    const failure = pgError("57P01", "terminating connection");
    driver.queryErrors.set("begin", failure);
    await assert.rejects(pool.beginTx(), (error) => error === failure);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("holds its connection until the transaction ends", async () => {
    const { pool } = harness();
    const tx = await pool.beginTx();
    assert.equal(pool.getMetrics().inUse, 1);
    await tx.commit();
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });
});

describe("a transaction", () => {
  it("commits, releases its connection clean, and reports committed", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    await tx.execute("insert into t values ($1)", [1]);
    await tx.commit();
    assert.equal(tx.status, "committed");
    assert.deepEqual(driver.last!.queries, ["begin", "insert into t values ($1)", "commit"]);
    assert.deepEqual(driver.last!.params[1], [1]);
    assert.equal(driver.last!.dirty, false);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
    assert.equal(driver.last!.resets, 0);
  });

  it("rolls back, releases its connection, and reports rolled back", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    await tx.execute("delete from t");
    await tx.rollback();
    assert.equal(tx.status, "rolled back");
    assert.deepEqual(driver.last!.queries, ["begin", "delete from t", "rollback"]);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("refuses a second commit with TransactionFinishedError and sends nothing", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    await tx.commit();
    await assert.rejects(tx.commit(), (error) => {
      assert.ok(error instanceof TransactionFinishedError);
      assert.ok(error instanceof PoolError);
      assert.equal(error.code, "TRANSACTION_FINISHED");
      assert.equal(error.message, "Cannot commit: the transaction was already committed");
      return true;
    });
    assert.equal(tx.status, "committed");
    await assert.rejects(
      tx.rollback(),
      new TransactionFinishedError("rollback", "committed"),
    );
    await assert.rejects(
      tx.execute("select 1"),
      new TransactionFinishedError("execute", "committed"),
    );
    assert.deepEqual(driver.last!.queries, ["begin", "commit"]);
    assert.equal(pool.getMetrics().idle, 1);
  });

  it("refuses a commit after a rollback with TransactionFinishedError", async () => {
    const { pool } = harness();
    const tx = await pool.beginTx();
    await tx.rollback();
    await assert.rejects(tx.commit(), {
      name: "TransactionFinishedError",
      message: "Cannot commit: the transaction was already rolled back",
    });
    assert.equal(tx.status, "rolled back");
  });

  it("refuses a second commit started before the first one answered", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    const first = tx.commit();
    await assert.rejects(tx.commit(), TransactionFinishedError);
    await first;
    assert.deepEqual(driver.last!.queries, ["begin", "commit"]);
  });

  it("throws TransactionRolledBackError from a commit the server answered with ROLLBACK", async () => {
    const { pool, driver } = harness();
    driver.queryErrors.set("insert into t values (1)", pgError("23505", "duplicate key value"));
    const tx = await pool.beginTx();
    await assert.rejects(tx.execute("insert into t values (1)"), { code: "23505" });
    await assert.rejects(tx.commit(), (error) => {
      assert.ok(error instanceof TransactionRolledBackError);
      assert.equal(error.code, "TRANSACTION_ROLLED_BACK");
      return true;
    });
    assert.equal(tx.status, "rolled back");
    assert.equal(driver.last!.dirty, false);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("reports rolled back and retires the connection when it dies during commit", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    const lost = new Error("connection reset by peer");
    driver.last!.dieOnQuery = lost;
    await assert.rejects(tx.commit(), (error) => error === lost);
    assert.equal(tx.status, "rolled back");
    const m = pool.getMetrics();
    assert.deepEqual([m.inUse, m.openConnections, m.connectionsLost], [0, 0, 1]);
  });

  it("has the pool reset a connection that a failed COMMIT left inside the transaction", async () => {
    const { pool, driver } = harness();
    const tx = await pool.beginTx();
    const fake = driver.last!;
    fake.query = (text) => {
      fake.queries.push(text);
      return Promise.reject(new Error("network hiccup"));
    };
    await assert.rejects(tx.commit(), /network hiccup/);
    assert.equal(tx.status, "rolled back");
    assert.equal(fake.resets, 1, "a dirty connection is not reused as is");
    await flush();
    assert.equal(fake.dirty, false);
  });

  it("rolls back an open transaction at the end of an await using block", async () => {
    const { pool, driver } = harness();
    {
      await using tx = await pool.beginTx();
      await tx.execute("update t set a = 1");
    }
    assert.deepEqual(driver.last!.queries, ["begin", "update t set a = 1", "rollback"]);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("sends nothing at the end of an await using block when already committed", async () => {
    const { pool, driver } = harness();
    {
      await using tx = await pool.beginTx();
      await tx.commit();
    }
    assert.deepEqual(driver.last!.queries, ["begin", "commit"]);
  });
});

describe("pool.transaction", () => {
  it("commits when the function returns, and returns its value", async () => {
    const { pool, driver } = harness();
    const value = await pool.transaction(async (tx) => {
      await tx.execute("insert into t values (1)");
      return { id: 7 };
    }, { isolationLevel: "serializable" });
    assert.deepEqual(value, { id: 7 });
    assert.deepEqual(driver.last!.queries, [
      "begin isolation level serializable",
      "insert into t values (1)",
      "commit",
    ]);
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
  });

  it("accepts a function that is not async", async () => {
    const { pool, driver } = harness();
    assert.equal(await pool.transaction(() => 42), 42);
    assert.deepEqual(driver.last!.queries, ["begin", "commit"]);
  });

  for (
    const [kind, thrown] of [
      ["an Error", new Error("boom")],
      ["a string", "boom"],
      ["a number", 42],
      ["a plain object", { reason: "boom" }],
      ["undefined", undefined],
      ["null", null],
    ] as const
  ) {
    it(`rolls back when the function throws ${kind}, and rethrows the very same value`, async () => {
      const { pool, driver } = harness();
      let caught: unknown = "nothing";
      try {
        await pool.transaction(async (tx) => {
          await tx.execute("update t set a = 1");
          throw thrown;
        });
      } catch (error) {
        caught = error;
      }
      assert.equal(caught, thrown);
      assert.deepEqual(driver.last!.queries, ["begin", "update t set a = 1", "rollback"]);
      assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
    });
  }

  it("rethrows the function's error when the rollback fails too, and closes the connection", async () => {
    const { pool, driver } = harness();
    const boom = new Error("boom");
    await assert.rejects(
      pool.transaction(() => {
        driver.last!.dieOnQuery = new Error("gone");
        throw boom;
      }),
      (error) => error === boom,
    );
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().openConnections], [0, 0]);
  });

  it("leaves a transaction the function ended alone", async () => {
    const { pool, driver } = harness();
    await pool.transaction(async (tx) => await tx.rollback());
    assert.deepEqual(driver.last!.queries, ["begin", "rollback"]);
    await pool.transaction(async (tx) => await tx.commit());
    assert.deepEqual(driver.last!.queries, ["begin", "rollback", "begin", "commit"]);
  });

  it("rejects with TransactionRolledBackError when the commit is answered with ROLLBACK", async () => {
    const { pool, driver } = harness();
    driver.queryErrors.set("bad", pgError("22012", "division by zero"));
    await assert.rejects(
      pool.transaction(async (tx) => {
        await tx.execute("bad").catch(() => {});
        return 1;
      }),
      TransactionRolledBackError,
    );
  });

  it("refuses a function that is not a function with a TypeError, before taking a connection", async () => {
    const { pool, driver } = harness();
    await assert.rejects(
      pool.transaction("select 1" as unknown as () => void),
      new TypeError("Cannot run transaction: fn must be a function, got string"),
    );
    assert.equal(driver.connects, 0);
  });

  it("refuses an unknown isolation level with a RangeError naming it", async () => {
    const { pool, driver } = harness();
    await assert.rejects(
      pool.transaction(() => 1, { isolationLevel: "chaos" as "serializable" }),
      (error) =>
        error instanceof RangeError && error.message.includes("isolationLevel") &&
        error.message.includes('"chaos"'),
    );
    assert.equal(driver.connects, 0);
  });
});
