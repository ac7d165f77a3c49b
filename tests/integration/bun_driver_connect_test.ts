/**
 * The Bun.SQL driver against a real PostgreSQL: connecting, from a URL or
 * options, and what a failed connect rejects with. Bun.SQL exists only in
 * Bun: on another runtime every test here is reported as skipped, and no
 * server is started.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { bunDriver, type BunDriverOptions } from "../../src/drivers/bun/mod.ts";
import { freePort, waitFor } from "../support/postgres.ts";
import {
  backendPid,
  codeOf,
  noBackends,
  rejection,
  uniqueName,
} from "../support/driver_helpers.ts";
import { ON_BUN, PREFIX, startBunDriverEnv } from "../support/bun_driver_env.ts";

const { suite, test, server, driverFor } = await startBunDriverEnv();

/** A loopback server that accepts connections and never answers. */
async function silentServer() {
  const sockets: Socket[] = [];
  const closed: Socket[] = [];
  const listener: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("close", () => closed.push(socket));
    socket.on("error", () => {});
    // Read and dropped: a paused socket would not see the client's end.
    socket.resume();
  });
  const port = await new Promise<number>((resolve) =>
    listener.listen(0, "127.0.0.1", () => {
      const address = listener.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    })
  );
  return {
    port,
    sockets,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

suite(() => {
  test("connects from an options object as well as from a URL", async () => {
    const name = uniqueName(PREFIX);
    const driver = bunDriver({ ...server().db.options, connection: { application_name: name } });
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      assert.deepEqual(await server().sql.backends(name), [await backendPid(connection)]);
    } finally {
      await connection.close();
    }
  });

  test("connecting to a port with no listener rejects with ECONNREFUSED, worth retrying", async () => {
    const port = await freePort();
    const driver = bunDriver({ ...server().db.options, port, connect_timeout: 5 });
    const signal = AbortSignal.timeout(10_000);
    const error = await rejection(driver.connect(signal));
    assert.notEqual(error, signal.reason);
    assert.equal(codeOf(error), "ECONNREFUSED");
    assert.equal(driver.canRetryConnect!(error), true);
  });

  test("connecting with a wrong password rejects with 28P01, not worth retrying", async () => {
    const name = uniqueName(PREFIX);
    const driver = driverFor(name, { password: "not-the-password" });
    const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
    assert.equal(codeOf(error), "28P01");
    assert.equal(driver.canRetryConnect!(error), false);
    await noBackends(server().sql, name);
  });

  test("connecting to a missing database rejects with 3D000, not worth retrying", async () => {
    const driver = driverFor(uniqueName(PREFIX), { database: "x_pool_no_such_database" });
    const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
    assert.equal(codeOf(error), "3D000");
    assert.equal(driver.canRetryConnect!(error), false);
  });

  test("a server that never answers fails the connect after connect_timeout, worth retrying", async () => {
    const silent = await silentServer();
    try {
      const driver = bunDriver({ ...server().db.options, port: silent.port, connect_timeout: 1 });
      const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
      assert.equal(codeOf(error), "CONNECT_TIMEOUT");
      assert.equal(driver.canRetryConnect!(error), true);
      await waitFor("the socket to close", () => silent.closed.length === 1);
    } finally {
      await silent.close();
    }
  });

  test("aborting a connect in flight rejects with the reason and closes the socket", async () => {
    const silent = await silentServer();
    try {
      const driver = bunDriver({ ...server().db.options, port: silent.port, connect_timeout: 20 });
      const controller = new AbortController();
      const connecting = rejection(driver.connect(controller.signal));
      await waitFor("the driver to reach the server", () => silent.sockets.length === 1);
      const reason = new Error("pool closing");
      controller.abort(reason);
      assert.equal(await connecting, reason);
      await waitFor("the socket to close", () => silent.closed.length === 1);
      assert.equal(silent.sockets.length, 1, "no second attempt");
    } finally {
      await silent.close();
    }
  });

  test("refuses options the pool owns, a missing username, a bad port and an unknown target_session_attrs", () => {
    const url = server().db.url;
    const owned = { max: 2 } as unknown as BunDriverOptions;
    assert.throws(() => bunDriver(url, owned), TypeError);
    const idle = { idleTimeout: 2 } as unknown as BunDriverOptions;
    assert.throws(() => bunDriver(url, idle), TypeError);
    assert.throws(() => bunDriver({ host: "localhost", database: "x" }), TypeError);
    assert.throws(() => bunDriver({ username: "x", port: 70_000 }), /port \(70000\)/);
    assert.throws(() => bunDriver({ username: "x", connect_timeout: 0 }), RangeError);
    assert.throws(() => bunDriver("postgres://x@a,b/db?target_session_attrs=main"), RangeError);
    assert.throws(() => bunDriver("mysql://x@a/db"), TypeError);
  });
});

describe("bunDriver on a runtime without Bun.SQL", () => {
  it(
    "throws an error saying Bun.SQL needs Bun",
    ON_BUN ? { skip: "this runtime is Bun" } : {},
    () => {
      assert.throws(() => bunDriver("postgres://app@localhost/app"), /Bun\.SQL needs Bun/);
    },
  );
});
