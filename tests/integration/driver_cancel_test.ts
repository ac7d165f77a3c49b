/**
 * The driver contract against a real PostgreSQL, for each driver:
 * cancelling a statement, by an abort signal, a timeout or reset(), calls
 * queued behind one, and that a cancel request never reaches the next
 * statement.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { QueryResult } from "../../src/driver.ts";
import { backendPid, codeOf, rejection, running } from "../support/driver_helpers.ts";
import { startDriverContract } from "./_driver_contract.ts";

const forEachDriver = await startDriverContract();

forEachDriver(({ target, test, server, driverFor, open, name: fresh }) => {
  test("queues concurrent calls, so one aborted while queued is never sent", async () => {
    const name = fresh();
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
      await running(server().sql, name, "select pg_sleep(0.2)");
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

  test("reset() cancels a running statement and rolls its transaction back", async () => {
    const name = fresh();
    const connection = await open(name);
    try {
      await connection.query("begin", []);
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await running(server().sql, name, "select pg_sleep(10)");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(codeOf(await sleeping), "57014");
      assert.equal(connection.dirty, false);
      const savepoint = await rejection(connection.query("savepoint s", []));
      assert.equal(codeOf(savepoint), "25P01", "no transaction is open");
    } finally {
      await connection.close();
    }
  });

  test("aborting a running query rejects with the reason, cancels it on the server and keeps the connection", async () => {
    const name = fresh();
    const connection = await open(name);
    try {
      const pid = await backendPid(connection);
      const controller = new AbortController();
      const reason = new Error("the caller gave up");
      const query = rejection(connection.query("select pg_sleep(10)", [], controller.signal));
      await running(server().sql, name, "select pg_sleep(10)");
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
  });

  test("a query past its timeout signal is cancelled on the server, inside a transaction too", async () => {
    const connection = await open();
    try {
      await connection.query("begin", []);
      const signal = AbortSignal.timeout(100);
      const error = await rejection(connection.query("select pg_sleep(10)", [], signal));
      assert.equal(error, signal.reason);
      // The cancel failed the transaction: the server says so, at once.
      const failed = await rejection(connection.query("select 1", [], AbortSignal.timeout(5_000)));
      assert.equal(codeOf(failed), "25P02");
      assert.equal(connection.dirty, true);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  test(
    target.racingAbort === "keeps"
      ? "aborts racing the statement's end never cancel the next statement"
      : "aborts racing the statement's end never cancel the next statement or wedge the connection",
    async () => {
      const driver = driverFor(fresh());
      let connection = await driver.connect(AbortSignal.timeout(10_000));
      let kept = 0;
      let replaced = 0;
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
          // A cancel request arriving late would fail the next statement with
          // 57014; Bun's driver closes the connection instead when it cannot rule that out.
          const next = await connection.query(
            "select pg_sleep(0.02), $1::int as i",
            [i],
            AbortSignal.timeout(5_000),
          ).then((result) => result, (error: unknown) => error);
          if (next instanceof Error && target.racingAbort === "may close") {
            assert.equal(codeOf(next), "CONNECTION_CLOSED", String(next));
            assert.equal(connection.closed, true);
            replaced++;
            connection = await driver.connect(AbortSignal.timeout(10_000));
            continue;
          }
          assert.equal((next as QueryResult).rows[0].i, i, String(next));
          kept++;
        }
        assert.ok(kept > 0, "some connections survived their abort");
        if (target.racingAbort === "keeps") assert.equal(connection.closed, false);
      } finally {
        await connection.close();
      }
      assert.equal(kept + replaced, 40);
    },
  );

  test("an already aborted signal rejects without sending anything", async () => {
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
