/**
 * The Bun.SQL driver against a real PostgreSQL: whether a connection is
 * dirty, through transactions, reset() and discard(). Bun.SQL exists only in
 * Bun: on another runtime every test here is reported as skipped, and no
 * server is started.
 *
 * @module
 */

import assert from "node:assert/strict";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startBunDriverEnv } from "../support/bun_driver_env.ts";

const { suite, test, open } = await startBunDriverEnv();

suite(() => {
  test("a query without parameters may hold several statements and returns the last result", async () => {
    const connection = await open();
    try {
      const result = await connection.query("select 1 as a; select 2 as b, 3 as c", []);
      assert.deepEqual(result, { rows: [{ b: 2, c: 3 }], rowCount: 1, command: "SELECT" });
      assert.equal(connection.dirty, false);
      await connection.query("begin; select 1", []);
      assert.equal(connection.dirty, true, "the BEGIN inside opened a transaction");
      await connection.query("commit; select 1", []);
      assert.equal(connection.dirty, true, "a COMMIT among several statements counts as doubtful");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      // Fails after the BEGIN ran: the transaction is open and failed.
      await rejection(connection.query("begin; select 1 / 0", []));
      assert.equal(connection.dirty, true);
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "25P02");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      assert.deepEqual((await connection.query("select 4 as d", [])).rows, [{ d: 4 }]);
    } finally {
      await connection.close();
    }
  });

  test("is dirty while a transaction is open and clean once it ends", async () => {
    const connection = await open();
    const dirtyAfter = async (text: string) => {
      await connection.query(text, []);
      return connection.dirty;
    };
    try {
      assert.equal(connection.dirty, false);
      assert.equal(await dirtyAfter("begin"), true);
      assert.equal(await dirtyAfter("select 1"), true);
      assert.equal(await dirtyAfter("commit"), false);
      assert.equal(await dirtyAfter("start transaction read only"), true);
      assert.equal(await dirtyAfter("rollback"), false);
      assert.equal(await dirtyAfter("BEGIN"), true);
      assert.equal(await dirtyAfter("savepoint s"), true);
      assert.equal(await dirtyAfter("rollback to savepoint s"), true);
      assert.equal(await dirtyAfter("commit and chain"), true);
      assert.equal(await dirtyAfter("rollback and chain"), true);
      assert.equal(await dirtyAfter("/* done */ END;"), false);
      assert.equal(await dirtyAfter("select 1"), false);
    } finally {
      await connection.close();
    }
  });

  test("stays dirty in a failed transaction until reset() rolls it back", async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.query("insert into t values ($1)", [1]);
      await rejection(connection.query("select 1 / 0", []));
      assert.equal(connection.dirty, true);
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "25P02");
      await connection.ping();
      assert.equal(connection.dirty, true);

      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query("select count(*)::int as n from t", []);
      assert.deepEqual(rows, [{ n: 0 }]);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  test("is dirty while a statement runs", async () => {
    const connection = await open();
    try {
      const query = connection.query("select pg_sleep(0.05)", []);
      assert.equal(connection.dirty, true);
      await query;
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  test("discard() clears settings, temporary tables and the transaction", async () => {
    const connection = await open();
    try {
      await connection.query("set statement_timeout = '42s'", []);
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query(
        "select current_setting('statement_timeout') as timeout, to_regclass('pg_temp.t') as t",
        [],
      );
      assert.deepEqual(rows, [{ timeout: "0", t: null }]);
      // The prepared statements Bun cached survive: the same text runs again.
      await connection.query("select $1::int as n", [1]);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.deepEqual((await connection.query("select $1::int as n", [2])).rows, [{ n: 2 }]);
    } finally {
      await connection.close();
    }
  });
});
