/**
 * `pool.sql`, `conn.sql` and `tx.sql` (also a cluster's transaction's) on
 * the fake driver: each runs its template through the object's `execute`,
 * and resolves to the rows carrying `rowCount` and `command`.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionReleasedError, sql, TransactionFinishedError } from "../../mod.ts";
import type { FakeConnection } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, harness, observe } from "../support/pool_helpers.ts";
import { setUp } from "../support/cluster_helpers.ts";

const UPDATE = "update users set name = $1 where id = $2";

/** The last statement `connection` ran, with its parameters. */
function lastRun(connection: FakeConnection): [string | undefined, readonly unknown[] | undefined] {
  return [connection.queries.at(-1), connection.params.at(-1)];
}

describe("pool.sql", () => {
  it("sends the compiled text and parameters, and resolves to the rows with rowCount and command", async () => {
    const { pool, driver } = harness();
    driver.queryResults.set("select name from users where id = $1", {
      rows: [{ name: "Ada" }],
      rowCount: 1,
      command: "SELECT",
    });
    const id = 1;
    const rows = await pool.sql<{ name: string }>`select name from users where id = ${id}`;
    assert.deepEqual(lastRun(driver.last!), ["select name from users where id = $1", [1]]);
    assert.ok(Array.isArray(rows));
    assert.deepEqual(rows, [{ name: "Ada" }], "compares equal to a plain array of the rows");
    assert.equal(rows[0].name, "Ada");
    assert.equal(rows.rowCount, 1);
    assert.equal(rows.command, "SELECT");
    assert.deepEqual(Object.keys(rows), ["0"], "rowCount and command are not enumerable");
    assert.equal(pool.getMetrics().inUse, 0, "the connection went back");
    await pool.close();
  });

  it("reports the row count and command of a statement that returns no rows", async () => {
    const { pool, driver } = harness();
    driver.queryResults.set(UPDATE, { rows: [], rowCount: 3, command: "UPDATE" });
    const result = await pool.sql`update users set name = ${"Ada"} where id = ${2}`;
    assert.deepEqual([result.length, result.rowCount, result.command], [0, 3, "UPDATE"]);
    assert.deepEqual(lastRun(driver.last!), [UPDATE, ["Ada", 2]]);
    await pool.close();
  });

  it("splices fragments and identifiers into the one statement it sends", async () => {
    const { pool, driver } = harness();
    const where = sql`${sql.identifier("name")} = ${"Ada"}`;
    await pool.sql`select ${sql.join([sql.identifier("id"), sql`${2} as two`])} from ${
      sql.identifier("public", "users")
    } where ${where} and id = any(${[1, 2]})`;
    assert.deepEqual(lastRun(driver.last!), [
      'select "id", $1 as two from "public"."users" where "name" = $2 and id = any($3)',
      [2, "Ada", [1, 2]],
    ]);
    await pool.close();
  });

  it("goes through pool.execute, so it is pipelined like execute once every connection is busy", async () => {
    const h = harness({ maxOpenConns: 1 });
    h.driver.pipelinable = (text) => text.startsWith("select");
    h.driver.onOpen = (connection) => connection.holdPipeline = true;
    const first = observe(h.pool.sql`select ${1}::int`);
    await flush();
    const second = observe(h.pool.sql`select ${2}::int`);
    await flush();
    const connection = h.driver.last!;
    assert.equal(h.driver.connects, 1);
    assert.deepEqual(connection.pipelined, ["select $1::int", "select $1::int"]);
    assert.equal(connection.inFlight, 2);
    connection.answer(2);
    await flush();
    assert.equal(first.status, "fulfilled");
    assert.equal(second.status, "fulfilled");
    assert.equal(second.value!.command, "SELECT");
    assertConsistent(h.pool);
    await h.pool.close();
  });

  it("rejects a refused value without taking a connection", async () => {
    const { pool, driver } = harness();
    const call = pool.sql`select ${undefined}`;
    assert.ok(call instanceof Promise, "rejects rather than throws");
    await assert.rejects(call, /^TypeError: Cannot build SQL: values\[0\] is undefined/);
    const notATag = pool.sql as unknown as (text: string) => Promise<unknown>;
    await assert.rejects(notATag.call(pool, "select 1"), /call sql as a tag/);
    assert.equal(driver.connects, 0);
    await pool.close();
  });
});

describe("conn.sql", () => {
  it("runs on the lent connection, and is refused after release", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    const rows = await conn.sql`select ${"x"}::text as t`;
    assert.deepEqual(lastRun(driver.last!), ["select $1::text as t", ["x"]]);
    assert.deepEqual([rows.rowCount, rows.command], [0, "SELECT"]);
    assert.equal(pool.getMetrics().inUse, 1, "still lent");
    conn.release();
    await assert.rejects(conn.sql`select ${1}`, ConnectionReleasedError);
    assert.equal(driver.last!.queries.length, 1);
    await pool.close();
  });
});

describe("tx.sql", () => {
  it("runs inside the transaction, and is refused once it has ended", async () => {
    const { pool, driver } = harness();
    driver.queryResults.set(UPDATE, { rows: [], rowCount: 1, command: "UPDATE" });
    const result = await pool.transaction((tx) =>
      tx.sql`update users set name = ${"Ada"} where id = ${1}`
    );
    assert.deepEqual(driver.last!.queries, ["begin", UPDATE, "commit"]);
    assert.deepEqual(driver.last!.params[1], ["Ada", 1]);
    assert.deepEqual([result.rowCount, result.command], [1, "UPDATE"]);

    const tx = await pool.beginTx();
    await tx.rollback();
    await assert.rejects(tx.sql`select ${1}`, TransactionFinishedError);
    await pool.close();
  });

  it("runs inside a cluster's transaction, on the member that holds it", async () => {
    const { cluster, primary, replicas } = setUp({}, 1);
    await cluster.transaction((tx) => tx.sql`select ${"primary"}::text`);
    await cluster.transaction((tx) => tx.sql`select ${"replica"}::text`, { readOnly: true });
    const ran = (connection: FakeConnection) =>
      connection.queries.map((text, i) => [text, connection.params[i]]);
    assert.deepEqual(primary.driver.connections.flatMap(ran).slice(-3), [
      ["begin", []],
      ["select $1::text", ["primary"]],
      ["commit", []],
    ]);
    assert.deepEqual(replicas[0].driver.connections.flatMap(ran).slice(-3), [
      ["begin read only", []],
      ["select $1::text", ["replica"]],
      ["commit", []],
    ]);
    const tx = await cluster.beginTx();
    await tx.commit();
    await assert.rejects(tx.sql`select ${1}`, TransactionFinishedError);
    await cluster.close();
  });
});
