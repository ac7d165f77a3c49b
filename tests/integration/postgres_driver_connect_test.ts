/**
 * The postgres.js driver against a real PostgreSQL: connecting, from a URL
 * or options, aborting a connect, and what a failed connect rejects with.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { freePort, waitFor } from "../support/postgres.ts";
import {
  backendPid,
  codeOf,
  noBackends,
  rejection,
  uniqueName,
} from "../support/driver_helpers.ts";
import { gatedProxy } from "../support/gated_proxy.ts";
import { PREFIX, startPostgresDriverEnv, TEST } from "../support/postgres_driver_env.ts";

const { db, sql, suite } = await startPostgresDriverEnv();

suite(() => {
  it("connects from an options object as well as from a URL", TEST, async () => {
    const name = uniqueName(PREFIX);
    const driver = postgresDriver({
      ...db.options,
      connection: { application_name: name },
    });
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      assert.deepEqual(await sql.backends(name), [
        await backendPid(connection),
      ]);
    } finally {
      await connection.close();
    }
  });

  it("connecting to a port with no listener rejects", TEST, async () => {
    const port = await freePort();
    const driver = postgresDriver({ ...db.options, port, connect_timeout: 5 });
    const signal = AbortSignal.timeout(10_000);
    const error = await rejection(driver.connect(signal));
    assert.notEqual(error, signal.reason);
    assert.equal(codeOf(error), "ECONNREFUSED");
  });

  it("connecting with a wrong password rejects with SQLSTATE 28P01", TEST, async () => {
    const name = uniqueName(PREFIX);
    const driver = postgresDriver({
      ...db.options,
      password: "not-the-password",
      connection: { application_name: name },
    });
    const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
    assert.equal(codeOf(error), "28P01");
    await noBackends(sql, name);
  });

  it(
    "aborting a connect in flight rejects with the reason, then closes the socket once the handshake ends",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const proxy = await gatedProxy(db.options);
      try {
        const driver = postgresDriver({
          ...db.options,
          port: proxy.port,
          connection: { application_name: name },
        });
        const controller = new AbortController();
        const connecting = rejection(driver.connect(controller.signal));
        await waitFor("the driver to reach the proxy", () => proxy.clients.length === 1);
        const reason = new Error("pool closing");
        controller.abort(reason);
        assert.equal(await connecting, reason);
        proxy.open();
        await waitFor("the socket to close", () => proxy.closed.length === 1);
        await noBackends(sql, name);
        assert.equal(proxy.clients.length, 1);
      } finally {
        await proxy.close();
      }
    },
  );

  it(
    "aborting a connect to a server that never answers closes the socket within connect_timeout",
    TEST,
    async () => {
      const proxy = await gatedProxy(db.options);
      try {
        const driver = postgresDriver({
          ...db.options,
          port: proxy.port,
          connect_timeout: 1,
        });
        const controller = new AbortController();
        const connecting = rejection(driver.connect(controller.signal));
        await waitFor("the driver to reach the proxy", () => proxy.clients.length === 1);
        controller.abort(new Error("gave up"));
        await connecting;
        await waitFor("the socket to close", () => proxy.closed.length === 1);
        assert.equal(proxy.clients.length, 1);
      } finally {
        await proxy.close();
      }
    },
  );

  it("refuses options the pool owns, a missing username and a bad port", () => {
    assert.throws(
      () =>
        postgresDriver(
          db.url,
          {
            max_lifetime: 60,
          } as unknown as Parameters<typeof postgresDriver>[1],
        ),
      TypeError,
    );
    assert.throws(
      () => postgresDriver({ host: "localhost", database: "x" }),
      TypeError,
    );
    assert.throws(
      () => postgresDriver({ username: "x", port: 70_000 }),
      RangeError,
    );
  });
});
