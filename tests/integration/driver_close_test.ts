/**
 * The driver contract against a real PostgreSQL, for each driver: closing
 * a connection, and losing one to a terminated backend or the network,
 * never to be reconnected.
 *
 * @module
 */

import assert from "node:assert/strict";
import { waitFor } from "../support/postgres.ts";
import { codeOf, noBackends, rejection, running } from "../support/driver_helpers.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { assertClosedError, sleep, startDriverContract } from "./_driver_contract.ts";

const forEachDriver = await startDriverContract();

forEachDriver(({ target, test, server, driverFor, open, name: fresh }) => {
  test("a terminated backend closes the connection, tells the listener once and is never reconnected", async () => {
    const name = fresh();
    const connection = await open(name);
    const calls: unknown[][] = [];
    connection.onClose((...args) => calls.push(args));
    try {
      await connection.ping();
      assert.equal(await server().sql.terminate(name), 1);
      await waitFor("the connection to close", () => connection.closed);
      await waitFor("the listener", () => calls.length > 0);
      assert.equal(calls.length, 1);
      const error = calls[0][0] as Error;
      assert.ok(error instanceof Error);
      const { code, causeCode } = target.terminatedClose;
      if (code) assert.equal(codeOf(error), code);
      if (causeCode) {
        assert.equal(codeOf(error.cause), causeCode, "the server's reason is the cause");
      }

      for (
        const call of [
          connection.query("select 1", []),
          connection.ping(),
          connection.reset(),
          connection.query("select 2", []),
        ]
      ) {
        assertClosedError(await rejection(call));
      }
      // A reconnect would show up as a new backend with the same name.
      await sleep(200);
      assert.deepEqual(await server().sql.backends(name), []);
      assert.equal(calls.length, 1);
    } finally {
      await connection.close();
    }
  });

  test("a backend terminated just before two queries fails both and is never reconnected", async () => {
    // The window between the kill and the client noticing it is a few ms,
    // so try a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const name = fresh();
      const traced = target.traced?.(server().db.url, name);
      const connection = await (traced?.driver ?? driverFor(name))
        .connect(AbortSignal.timeout(10_000));
      try {
        await connection.ping();
        assert.equal(await server().sql.terminate(name), 1);
        if (traced) traced.sent.length = 0;
        // No wait for the close: the first query may meet the dying socket.
        const first = await rejection(connection.query("select 1", []));
        const second = await rejection(connection.query("select 2", []));
        assert.ok(first instanceof Error);
        assert.equal(codeOf(second), "CONNECTION_CLOSED");
        if (traced) assert.ok(traced.sent.length <= 1, `sent after the kill: ${traced.sent}`);
        await waitFor("the connection to close", () => connection.closed);
      } finally {
        await connection.close();
      }
      // A client on its own (Bun.SQL) would have opened a new session for the query.
      await sleep(50);
      assert.deepEqual(await server().sql.backends(name), []);
    }
    // postgres.js crashed from a setImmediate after such a sequence.
    await sleep(200);
  });

  test(`a backend terminated during a statement fails it with ${target.terminatedStatement} and never reconnects`, async () => {
    const name = fresh();
    const connection = await open(name);
    try {
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await running(server().sql, name, "select pg_sleep(10)");
      assert.equal(await server().sql.terminate(name), 1);
      assert.equal(codeOf(await sleeping), target.terminatedStatement);
      // No wait for the close: the next query may meet the dying socket.
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "CONNECTION_CLOSED");
      assert.equal(connection.closed, true);
      await sleep(200);
      assert.deepEqual(await server().sql.backends(name), []);
    } finally {
      await connection.close();
    }
  });

  test("close() is idempotent, tells the listener without an error and leaves no backend", async () => {
    const name = fresh();
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
    const name = fresh();
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
      const driver = target.make({ ...server().db.options, port: proxy.port, connect_timeout: 1 });
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
      const driver = target.make({ ...server().db.options, port: proxy.port });
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
