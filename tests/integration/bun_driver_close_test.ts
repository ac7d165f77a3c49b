/**
 * The Bun.SQL driver against a real PostgreSQL: closing a connection, and
 * losing one to a terminated backend or the network. Bun.SQL exists only in
 * Bun: on another runtime every test here is reported as skipped, and no
 * server is started.
 *
 * @module
 */

import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { waitFor } from "../support/postgres.ts";
import { codeOf, noBackends, rejection, running, uniqueName } from "../support/driver_helpers.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { PREFIX, startBunDriverEnv } from "../support/bun_driver_env.ts";

const { suite, test, server, driverFor, open } = await startBunDriverEnv();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

suite(() => {
  test("a terminated backend closes the connection, tells the listener once and is never reconnected", async () => {
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    const calls: unknown[][] = [];
    connection.onClose((...args) => calls.push(args));
    try {
      await connection.ping();
      assert.equal(await server().sql.terminate(name), 1);
      await waitFor("the connection to close", () => connection.closed);
      await waitFor("the listener", () => calls.length > 0);
      assert.equal(calls.length, 1);
      assert.ok(calls[0][0] instanceof Error);
      assert.equal(codeOf(calls[0][0]), "CONNECTION_CLOSED");
      assert.equal(
        codeOf((calls[0][0] as Error).cause),
        "57P01",
        "the server's reason is the cause",
      );

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
      assert.deepEqual(await server().sql.backends(name), []);
      assert.equal(calls.length, 1);
    } finally {
      await connection.close();
    }
  });

  test("queries sent right after the backend was terminated fail and never reach a new session", async () => {
    // The window between the kill and Bun noticing it is short, so try a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const name = uniqueName(PREFIX);
      const connection = await open(name);
      try {
        await connection.ping();
        assert.equal(await server().sql.terminate(name), 1);
        // No wait for the close: the first query may meet the dying socket.
        const first = await rejection(connection.query("select 1", []));
        const second = await rejection(connection.query("select 2", []));
        assert.ok(first instanceof Error);
        assert.equal(codeOf(second), "CONNECTION_CLOSED");
        await waitFor("the connection to close", () => connection.closed);
      } finally {
        await connection.close();
      }
      // Bun.SQL on its own would have opened a new session for the query.
      await sleep(50);
      assert.deepEqual(await server().sql.backends(name), []);
    }
  });

  test("a backend terminated during a statement fails it with 57P01 and never reconnects", async () => {
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    try {
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await running(server().sql, name, "select pg_sleep(10)");
      assert.equal(await server().sql.terminate(name), 1);
      assert.equal(codeOf(await sleeping), "57P01");
      // No wait for the close: the next query may meet the dying socket.
      const next = await rejection(connection.query("select 1", []));
      assert.equal(codeOf(next), "CONNECTION_CLOSED");
      assert.equal(connection.closed, true);
      await sleep(200);
      assert.deepEqual(await server().sql.backends(name), []);
    } finally {
      await connection.close();
    }
  });

  test("close() is idempotent, tells the listener without an error and leaves no backend", async () => {
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    const calls: unknown[][] = [];
    connection.onClose((...args) => calls.push(args));
    assert.equal((await server().sql.backends(name)).length, 1);
    await Promise.all([connection.close(), connection.close()]);
    await connection.close();
    assert.equal(connection.closed, true);
    await waitFor("the listener", () => calls.length > 0);
    assert.deepEqual(calls, [[undefined]]);
    await noBackends(server().sql, name);
    assert.equal(codeOf(await rejection(connection.query("select 1", []))), "CONNECTION_CLOSED");

    const late: unknown[][] = [];
    connection.onClose((...args) => late.push(args));
    await waitFor("the late listener", () => late.length > 0);
    assert.deepEqual(late, [[undefined]]);
  });

  test("close() cancels a running statement rather than leaving it to run", async () => {
    const name = uniqueName(PREFIX);
    const connection = await driverFor(name, { connect_timeout: 2 })
      .connect(AbortSignal.timeout(10_000));
    // Unlike pg_sleep, a busy loop never notices that the client has gone.
    const forever = "do $$ begin loop end loop; end $$";
    try {
      const looping = rejection(connection.query(forever, []));
      await running(server().sql, name, forever);
      await connection.close();
      assert.ok(await looping instanceof Error);
      await noBackends(server().sql, name);
    } finally {
      await server().sql.terminate(name);
    }
  });

  test("close() stops waiting for a server that never acknowledges after connect_timeout", async () => {
    const proxy = await startFaultProxy(server().db.options);
    try {
      const driver = bunDriver({ ...server().db.options, port: proxy.port, connect_timeout: 1 });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      proxy.set({ mode: "blackhole" });
      const outcome = await Promise.race([
        connection.close().then(() => "closed"),
        sleep(5_000).then(() => "still waiting"),
      ]);
      assert.equal(outcome, "closed");
      assert.equal(connection.closed, true);
    } finally {
      await proxy.close();
    }
  });

  test("a connection reset by the network tells the listener with an error and is never reconnected", async () => {
    const proxy = await startFaultProxy(server().db.options);
    try {
      const driver = bunDriver({ ...server().db.options, port: proxy.port });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      const calls: unknown[][] = [];
      connection.onClose((...args) => calls.push(args));
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await sleep(50);
      proxy.set({ mode: "reset" });
      assert.ok(await sleeping instanceof Error);
      await waitFor("the listener", () => calls.length > 0);
      assert.ok(calls[0][0] instanceof Error);
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "CONNECTION_CLOSED");
      proxy.set({ mode: "pass" });
      await sleep(100);
      assert.equal(proxy.accepted, 1, "no second connection");
      await connection.close();
    } finally {
      await proxy.close();
    }
  });
});
