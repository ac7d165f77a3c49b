/**
 * The node-postgres driver against a real PostgreSQL: closing a
 * connection, and losing one to a terminated backend.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { waitFor } from "../support/postgres.ts";
import { codeOf, noBackends, rejection, running, uniqueName } from "../support/driver_helpers.ts";
import { gatedProxy } from "../support/gated_proxy.ts";
import { PREFIX, startPgDriverEnv, TEST } from "../support/pg_driver_env.ts";

const { db, sql, suite, open, driverFor } = await startPgDriverEnv();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

suite(() => {
  it(
    "a terminated backend closes the connection, tells the listener once and is never reconnected",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      const calls: unknown[][] = [];
      connection.onClose((...args) => calls.push(args));
      try {
        await connection.ping();
        assert.equal(await sql.terminate(name), 1);
        await waitFor("the connection to close", () => connection.closed);
        await waitFor("the listener", () => calls.length > 0);
        assert.equal(calls.length, 1);
        const error = calls[0][0] as Error;
        assert.ok(error instanceof Error);
        assert.equal(codeOf(error.cause), "57P01", "the server's reason is the cause");

        for (
          const call of [
            connection.query("select 1", []),
            connection.ping(),
            connection.reset(),
            connection.query("select 2", []),
          ]
        ) {
          const error = await rejection(call);
          assert.equal(codeOf(error), "CONNECTION_CLOSED");
          assert.match((error as Error).message, /the connection is closed/);
        }
        // A reconnect would show up as a new backend with the same name.
        await sleep(200);
        assert.deepEqual(await sql.backends(name), []);
        assert.equal(calls.length, 1);
      } finally {
        await connection.close();
      }
    },
  );

  it(
    "a backend terminated while a statement runs fails it and closes the connection",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      try {
        const sleeping = rejection(connection.query("select pg_sleep(10)", []));
        await running(sql, name, "select pg_sleep(10)");
        assert.equal(await sql.terminate(name), 1);
        assert.equal(codeOf(await sleeping), "57P01");
        await waitFor("the connection to close", () => connection.closed);
        assert.equal(
          codeOf(await rejection(connection.query("select 1", []))),
          "CONNECTION_CLOSED",
        );
      } finally {
        await connection.close();
      }
    },
  );

  it(
    "a backend terminated just before two queries fails both and is never reconnected",
    TEST,
    async () => {
      // The window between the server's FATAL message and the socket's close
      // is a few ms, so try a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        const name = uniqueName(PREFIX);
        const connection = await open(name);
        try {
          await connection.ping();
          assert.equal(await sql.terminate(name), 1);
          // No wait for the close: the first query may meet the dying socket.
          const first = await rejection(connection.query("select 1", []));
          const second = await rejection(connection.query("select 2", []));
          assert.ok(first instanceof Error);
          assert.equal(codeOf(second), "CONNECTION_CLOSED");
          await waitFor("the connection to close", () => connection.closed);
        } finally {
          await connection.close();
        }
        assert.deepEqual(await sql.backends(name), []);
      }
    },
  );

  it(
    "close() is idempotent, tells the listener without an error and leaves no backend",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      const calls: unknown[][] = [];
      connection.onClose((...args) => calls.push(args));
      assert.equal((await sql.backends(name)).length, 1);
      await Promise.all([connection.close(), connection.close()]);
      await connection.close();
      assert.equal(connection.closed, true);
      await waitFor("the listener", () => calls.length > 0);
      assert.deepEqual(calls, [[undefined]]);
      await noBackends(sql, name);
      const error = await rejection(connection.query("select 1", []));
      assert.equal(codeOf(error), "CONNECTION_CLOSED");

      const late: unknown[][] = [];
      connection.onClose((...args) => late.push(args));
      await waitFor("the late listener", () => late.length > 0);
      assert.deepEqual(late, [[undefined]]);
    },
  );

  it("close() cancels a running statement rather than leaving it to run", TEST, async () => {
    const name = uniqueName(PREFIX);
    const connection = await driverFor(name, { connect_timeout: 2 })
      .connect(AbortSignal.timeout(10_000));
    // Unlike pg_sleep, a busy loop never notices that the client has gone.
    const forever = "do $$ begin loop end loop; end $$";
    try {
      const looping = rejection(connection.query(forever, []));
      await running(sql, name, forever);
      await connection.close();
      assert.ok(await looping instanceof Error);
      await noBackends(sql, name);
    } finally {
      await sql.terminate(name);
    }
  });

  it(
    "close() stops waiting for a server that never acknowledges after connect_timeout",
    TEST,
    async () => {
      const proxy = await gatedProxy(db.options);
      try {
        proxy.open();
        const driver = pgDriver({ ...db.options, port: proxy.port, connect_timeout: 1 });
        const connection = await driver.connect(AbortSignal.timeout(10_000));
        proxy.freeze();
        const closing = connection.close();
        const outcome = await Promise.race([
          closing.then(() => "closed"),
          sleep(5_000).then(() => "still waiting"),
        ]);
        assert.equal(outcome, "closed");
        assert.equal(connection.closed, true);
      } finally {
        await proxy.close();
      }
    },
  );
});
