/**
 * The node-postgres driver against a real PostgreSQL: cancelling a
 * statement, by an abort signal, a timeout or reset(), calls queued behind
 * one, and that a cancel request never reaches the next statement.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { backendPid, codeOf, rejection, running, uniqueName } from "../support/driver_helpers.ts";
import { PREFIX, startPgDriverEnv, TEST } from "../support/pg_driver_env.ts";

const { sql, suite, open } = await startPgDriverEnv();

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
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await running(sql, name, "select pg_sleep(10)");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(codeOf(await sleeping), "57014");
      assert.equal(connection.dirty, false);
      assert.equal(codeOf(await rejection(connection.query("savepoint s", []))), "25P01");
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
        const query = rejection(connection.query("select pg_sleep(10)", [], controller.signal));
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

  it(
    "a query past its timeout signal is cancelled on the server, inside a transaction too",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      try {
        await connection.query("begin", []);
        const signal = AbortSignal.timeout(100);
        const error = await rejection(connection.query("select pg_sleep(10)", [], signal));
        assert.equal(error, signal.reason);
        // The cancel failed the transaction: the server says so, at once.
        const failed = await rejection(
          connection.query("select 1", [], AbortSignal.timeout(5_000)),
        );
        assert.equal(codeOf(failed), "25P02");
        assert.equal(connection.dirty, true);
        await connection.reset(AbortSignal.timeout(5_000));
        assert.equal(connection.dirty, false);
      } finally {
        await connection.close();
      }
    },
  );

  it("aborts racing the statement's end never cancel the next statement", TEST, async () => {
    const connection = await open();
    try {
      // Aborts from before the statement starts to after it ends.
      for (let i = 0; i < 40; i++) {
        const controller = new AbortController();
        const reason = new Error(`abort ${i}`);
        const outcome = connection.query("select pg_sleep(0.004)", [], controller.signal).then(
          () => "done",
          (error) => error,
        );
        setTimeout(() => controller.abort(reason), i % 10);
        const result = await outcome;
        assert.ok(result === "done" || result === reason, String(result));
        // A cancel request arriving late would fail this one with 57014.
        const { rows } = await connection.query(
          "select pg_sleep(0.02), $1::int as i",
          [i],
          AbortSignal.timeout(5_000),
        );
        assert.equal(rows[0].i, i);
      }
      assert.equal(connection.closed, false);
    } finally {
      await connection.close();
    }
  });

  it("an already aborted signal rejects without sending anything", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      const reason = new Error("too late");
      const error = await rejection(
        connection.query("insert into t values (1)", [], AbortSignal.abort(reason)),
      );
      assert.equal(error, reason);
      assert.equal(await rejection(connection.ping(AbortSignal.abort(reason))), reason);
      const { rows } = await connection.query("select count(*)::int as n from t", []);
      assert.deepEqual(rows, [{ n: 0 }]);
    } finally {
      await connection.close();
    }
  });
});
