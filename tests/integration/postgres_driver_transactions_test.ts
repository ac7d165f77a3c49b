/**
 * The postgres.js driver against a real PostgreSQL: whether a connection is
 * dirty, through transactions and reset().
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startPostgresDriverEnv, TEST } from "../support/postgres_driver_env.ts";

const { suite, open } = await startPostgresDriverEnv();

suite(() => {
  it("is dirty while a transaction is open and clean once it ends", TEST, async () => {
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

  it("stays dirty in a failed transaction until reset() rolls it back", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.query("insert into t values (1)", []);
      await rejection(connection.query("select 1 / 0", []));
      assert.equal(connection.dirty, true);
      const failed = await rejection(connection.query("select 1", []));
      assert.equal(codeOf(failed), "25P02");
      await connection.ping();
      assert.equal(connection.dirty, true);

      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query(
        "select count(*)::int as n from t",
        [],
      );
      assert.deepEqual(rows, [{ n: 0 }]);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  it("is dirty while a statement runs", TEST, async () => {
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
});
