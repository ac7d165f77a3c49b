/**
 * The driver contract against a real PostgreSQL, for each driver:
 * connecting, from a URL or options, aborting a connect, what a failed
 * connect rejects with and whether it is worth retrying, and the options
 * each driver refuses. Then what only one driver does: node-postgres's
 * settings, TLS fallback and type parsers, and bunDriver off Bun.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { freePort, waitFor } from "../support/postgres.ts";
import { backendPid, codeOf, noBackends, rejection } from "../support/driver_helpers.ts";
import { gatedProxy } from "../support/gated_proxy.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";
import { startDriverContract } from "./_driver_contract.ts";

const forEachDriver = await startDriverContract();

forEachDriver(({ target, test, server, driverFor, name: fresh }) => {
  test("connects from an options object as well as from a URL", async () => {
    const { db, sql } = server();
    for (const options of [{ ...db.options }, db.url]) {
      const name = fresh();
      const driver = target.make(options, { connection: { application_name: name } });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        assert.deepEqual(await sql.backends(name), [await backendPid(connection)]);
      } finally {
        await connection.close();
      }
    }
  });

  test("connecting to a port with no listener rejects with ECONNREFUSED, worth retrying", async () => {
    const port = await freePort();
    const driver = target.make({ ...server().db.options, port, connect_timeout: 5 });
    const signal = AbortSignal.timeout(10_000);
    const error = await rejection(driver.connect(signal));
    assert.notEqual(error, signal.reason);
    assert.equal(codeOf(error), "ECONNREFUSED");
    assert.equal(driver.canRetryConnect!(error), true);
  });

  test("connecting with a wrong password rejects with 28P01, not worth retrying", async () => {
    const name = fresh();
    const driver = driverFor(name, { password: "not-the-password" });
    const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
    assert.equal(codeOf(error), "28P01");
    assert.equal(driver.canRetryConnect!(error), false);
    assert.doesNotMatch(String((error as Error).message), /not-the-password/);
    await noBackends(server().sql, name);
  });

  test("connecting to a missing database rejects with 3D000, not worth retrying", async () => {
    const driver = driverFor(fresh(), { database: "x_pool_no_such_database" });
    const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
    assert.equal(codeOf(error), "3D000");
    assert.equal(driver.canRetryConnect!(error), false);
  });

  test("a server that never answers fails the connect after connect_timeout, worth retrying", async () => {
    const proxy = await gatedProxy(server().db.options);
    try {
      const driver = target.make({ ...server().db.options, port: proxy.port, connect_timeout: 1 });
      const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
      assert.ok(error instanceof Error);
      if (target.connectTimeoutCode) assert.equal(codeOf(error), target.connectTimeoutCode);
      assert.equal(driver.canRetryConnect!(error), true);
      await waitFor("the socket to close", () => proxy.closed.length === 1);
    } finally {
      await proxy.close();
    }
  });

  const afterHandshake = target.abortedConnectCloses === "after the handshake";
  test(
    afterHandshake
      ? "aborting a connect in flight rejects with the reason, then closes the socket once the handshake ends"
      : "aborting a connect in flight rejects with the reason and closes the socket",
    async () => {
      const name = fresh();
      const proxy = await gatedProxy(server().db.options);
      try {
        const driver = target.make({
          ...server().db.options,
          port: proxy.port,
          connection: { application_name: name },
        });
        const controller = new AbortController();
        const connecting = rejection(driver.connect(controller.signal));
        await waitFor("the driver to reach the proxy", () => proxy.clients.length === 1);
        const reason = new Error("pool closing");
        controller.abort(reason);
        assert.equal(await connecting, reason);
        // postgres.js cannot close a socket before the server's handshake ends.
        if (afterHandshake) proxy.open();
        await waitFor("the socket to close", () => proxy.closed.length === 1);
        if (!afterHandshake) proxy.open();
        await noBackends(server().sql, name);
        assert.equal(proxy.clients.length, 1, "no second attempt");
      } finally {
        await proxy.close();
      }
    },
  );

  test("refuses options the pool owns or takes under another name, a missing username and a bad port", () => {
    for (const [make, expected] of target.refused(server().db.url)) {
      assert.throws(make, expected as RegExp);
    }
  });

  test("never shows a password in its errors", () => {
    for (
      const url of [
        "postgres://app:hunter2@localhost:99999/app",
        "mysql://app:hunter2@localhost/app",
        "postgres://app:hunter2@localhost/app?sslmode=sometimes",
      ]
    ) {
      assert.throws(() => target.make(url), (error: Error) => !error.message.includes("hunter2"));
    }
  });

  if (target.id === "postgres") {
    test("aborting a connect to a server that never answers closes the socket within connect_timeout", async () => {
      const proxy = await gatedProxy(server().db.options);
      try {
        const driver = target.make({
          ...server().db.options,
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
    });
  }

  if (target.id === "pg") {
    test("sends the other connection parameters as settings, and takes a password function", async () => {
      const { db } = server();
      const driver = pgDriver({
        ...db.options,
        user: db.options.username,
        username: undefined,
        password: () => Promise.resolve(db.options.password),
        connection: { search_path: "pg_catalog, public", statement_timeout: "1234ms" },
      });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        const { rows } = await connection.query(
          "select current_setting('search_path') as path, current_setting('statement_timeout') as timeout, current_setting('application_name') as name",
          [],
        );
        assert.deepEqual(rows, [{
          path: "pg_catalog, public",
          timeout: "1234ms",
          name: "node-postgres",
        }]);
      } finally {
        await connection.close();
      }
    });

    test("with sslmode prefer, connects without TLS to a server that has none", async () => {
      const { db } = server();
      const name = fresh();
      const driver = pgDriver(`${db.url}?sslmode=prefer`, {
        connection: { application_name: name },
      });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        const { rows } = await connection.query(
          "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
          [],
        );
        assert.deepEqual(rows, [{ ssl: false }]);
      } finally {
        await connection.close();
      }
      const required = pgDriver(db.url, { ssl: "require" });
      const error = await rejection(required.connect(AbortSignal.timeout(10_000)));
      assert.match((error as Error).message, /does not support SSL/);
    });

    test("takes node-postgres's own type parsers", async () => {
      const types = {
        getTypeParser: (oid: number, format?: "text" | "binary") =>
          oid === 20 ? (text: string) => BigInt(text) : pg.types.getTypeParser(oid, format),
      };
      for (const parsers of [pg.types, types]) {
        const driver = pgDriver(server().db.url, { types: parsers });
        const connection = await driver.connect(AbortSignal.timeout(10_000));
        try {
          const { rows } = await connection.query("select 2::int8 as n", []);
          assert.deepEqual(rows, [{ n: parsers === types ? 2n : "2" }]);
        } finally {
          await connection.close();
        }
      }
    });
  }
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
