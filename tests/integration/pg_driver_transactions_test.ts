/**
 * The node-postgres driver against a real PostgreSQL: whether a connection
 * is dirty, through transactions, reset() and discard().
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startPgDriverEnv, TEST } from "../support/pg_driver_env.ts";

const { suite, open, driverFor } = await startPgDriverEnv();

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
      assert.equal(await dirtyAfter("begin; select 1; commit"), false);
      assert.equal(await dirtyAfter("select 1; begin"), true);
      assert.equal(await dirtyAfter("rollback"), false);
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
      const { rows } = await connection.query("select count(*)::int as n from t", []);
      assert.deepEqual(rows, [{ n: 0 }]);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  it(
    "counts a failed query of several statements as leaving a transaction open",
    TEST,
    async () => {
      const connection = await open();
      try {
        await rejection(connection.query("begin; select 1 / 0", []));
        assert.equal(connection.dirty, true);
        await connection.reset(AbortSignal.timeout(5_000));
        assert.equal(connection.dirty, false);
        assert.equal(codeOf(await rejection(connection.query("savepoint s", []))), "25P01");
      } finally {
        await connection.close();
      }
    },
  );

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

  it("discard() clears settings, temporary tables and advisory locks", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("set statement_timeout = 1234", []);
      await connection.query("create temporary table scratch (x int)", []);
      await connection.query("select pg_advisory_lock(42)", []);
      await connection.query("begin", []);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query(
        `select current_setting('statement_timeout') as timeout,
                to_regclass('pg_temp.scratch') is null as no_temp,
                (select count(*)::int from pg_locks
                 where locktype = 'advisory' and pid = pg_backend_pid()) as locks`,
        [],
      );
      assert.deepEqual(rows, [{ timeout: "0", no_temp: true, locks: 0 }]);
    } finally {
      await connection.close();
    }
  });

  it("behind a transaction pooler, shares sessions and refuses discard()", TEST, async () => {
    const driver = driverFor("x-pool-pg-pooler", { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    assert.equal(driver.pipelinable, undefined, "the driver never pipelines");
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      assert.ok(await rejection(connection.discard!()) instanceof TypeError);
    } finally {
      await connection.close();
    }
  });
});
