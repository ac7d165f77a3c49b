/**
 * The postgres.js driver against a real PostgreSQL: cancelling a statement,
 * by an abort signal or reset(), and calls queued behind one.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { backendPid, codeOf, rejection, running, uniqueName } from "../support/driver_helpers.ts";
import { PREFIX, startPostgresDriverEnv, TEST } from "../support/postgres_driver_env.ts";

const { sql, suite, open } = await startPostgresDriverEnv();

suite(() => {
  it("queues concurrent calls, so one aborted while queued is never sent", TEST, async () => {
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    try {
      await connection.query("create temporary table t (n int)", []);
      const order: number[] = [];
      const controller = new AbortController();
      const reason = new Error("not needed any more");
      const calls = Promise.all([
        connection.query("select pg_sleep(0.2)", []).then(() => order.push(1)),
        rejection(connection.query("insert into t values (1)", [], controller.signal)),
        connection.query("select $1::int as n", [3]).then(() => order.push(3)),
        connection.ping().then(() => order.push(4)),
      ]);
      await running(sql, name, "select pg_sleep(0.2)");
      controller.abort(reason);
      const [, aborted] = await calls;
      assert.equal(aborted, reason);
      assert.deepEqual(order, [1, 3, 4]);
      const { rows } = await connection.query("select count(*)::int as n from t", []);
      assert.deepEqual(rows, [{ n: 0 }]);
    } finally {
      await connection.close();
    }
  });

  it("reset() cancels a running statement and rolls its transaction back", TEST, async () => {
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    try {
      await connection.query("begin", []);
      const sleeping = rejection(
        connection.query("select pg_sleep(10)", []),
      );
      await running(sql, name, "select pg_sleep(10)");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(codeOf(await sleeping), "57014");
      assert.equal(connection.dirty, false);
      const savepoint = await rejection(connection.query("savepoint s", []));
      assert.equal(codeOf(savepoint), "25P01", "no transaction is open");
    } finally {
      await connection.close();
    }
  });

  it(
    "aborting a running query rejects with the reason, cancels it on the server and keeps the connection",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      try {
        const pid = await backendPid(connection);
        const controller = new AbortController();
        const reason = new Error("the caller gave up");
        const query = rejection(
          connection.query("select pg_sleep(10)", [], controller.signal),
        );
        await running(sql, name, "select pg_sleep(10)");
        controller.abort(reason);
        assert.equal(await query, reason);
        // Bounded: without the server-side cancel this waits for pg_sleep.
        const { rows } = await connection.query(
          "select pg_backend_pid() as pid",
          [],
          AbortSignal.timeout(5_000),
        );
        assert.deepEqual(rows, [{ pid }]);
        assert.equal(connection.dirty, false);
      } finally {
        await connection.close();
      }
    },
  );

  it("an already aborted signal rejects without sending anything", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      const reason = new Error("too late");
      const error = await rejection(
        connection.query(
          "insert into t values (1)",
          [],
          AbortSignal.abort(reason),
        ),
      );
      assert.equal(error, reason);
      assert.equal(
        await rejection(connection.ping(AbortSignal.abort(reason))),
        reason,
      );
      const { rows } = await connection.query(
        "select count(*)::int as n from t",
        [],
      );
      assert.deepEqual(rows, [{ n: 0 }]);
    } finally {
      await connection.close();
    }
  });
});
