/**
 * The driver contract against a real PostgreSQL, for each driver: whether
 * a connection is dirty, through transactions, several statements in one
 * query, reset() and discard(), and behind a transaction pooler.
 *
 * @module
 */

import assert from "node:assert/strict";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startDriverContract } from "./_driver_contract.ts";

const forEachDriver = await startDriverContract();

forEachDriver(({ target, test, driverFor, open, name: fresh }) => {
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
      for (const [text, dirty] of target.severalStatementsDirty) {
        assert.equal(await dirtyAfter(text), dirty, text);
      }
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
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

  if (target.severalStatements === "last") {
    test("counts a failed query of several statements as leaving a transaction open", async () => {
      const connection = await open();
      try {
        // Fails after the BEGIN ran: the transaction is open and failed.
        await rejection(connection.query("begin; select 1 / 0", []));
        assert.equal(connection.dirty, true);
        assert.equal(codeOf(await rejection(connection.query("select 1", []))), "25P02");
        await connection.reset(AbortSignal.timeout(5_000));
        assert.equal(connection.dirty, false);
        assert.equal(codeOf(await rejection(connection.query("savepoint s", []))), "25P01");
        assert.deepEqual((await connection.query("select 4 as d", [])).rows, [{ d: 4 }]);
      } finally {
        await connection.close();
      }
    });
  }

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

  test("discard() clears settings, temporary tables, advisory locks and the transaction", async () => {
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
      // The statements a client prepared and cached survive: the same text runs again.
      await connection.query("select $1::int as n", [1]);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.deepEqual((await connection.query("select $1::int as n", [2])).rows, [{ n: 2 }]);
    } finally {
      await connection.close();
    }
  });

  test("behind a transaction pooler, shares sessions, never pipelines and refuses discard() without sending it", async () => {
    const driver = driverFor(fresh(), { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    // node-postgres never pipelines, so it has no pipelinable at all.
    if (target.id === "pg") assert.equal(driver.pipelinable, undefined);
    else assert.equal(driver.pipelinable!("select 1"), false);
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("begin", []);
      assert.ok(await rejection(connection.discard!()) instanceof TypeError);
      assert.equal(connection.dirty, true, "nothing was sent: the transaction is still open");
      await connection.reset();
      assert.deepEqual((await connection.query("select 1 as n", [])).rows, [{ n: 1 }]);
    } finally {
      await connection.close();
    }
  });
});
