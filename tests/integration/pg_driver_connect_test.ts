/**
 * The node-postgres driver against a real PostgreSQL: connecting, from a
 * URL or options, aborting a connect, what a failed connect rejects with,
 * and the options it refuses.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { pgDriver, type PgDriverOptions } from "../../src/drivers/pg/mod.ts";
import { freePort, waitFor } from "../support/postgres.ts";
import {
  backendPid,
  codeOf,
  noBackends,
  rejection,
  uniqueName,
} from "../support/driver_helpers.ts";
import { gatedProxy } from "../support/gated_proxy.ts";
import { PREFIX, startPgDriverEnv, TEST } from "../support/pg_driver_env.ts";

const { db, sql, suite } = await startPgDriverEnv();

suite(() => {
  it("connects from an options object as well as from a URL", TEST, async () => {
    for (const options of [{ ...db.options }, db.url]) {
      const name = uniqueName(PREFIX);
      const driver = pgDriver(options, { connection: { application_name: name } });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        assert.deepEqual(await sql.backends(name), [await backendPid(connection)]);
      } finally {
        await connection.close();
      }
    }
  });

  it(
    "sends the other connection parameters as settings, and takes a password function",
    TEST,
    async () => {
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
    },
  );

  it("connecting to a port with no listener rejects with ECONNREFUSED", TEST, async () => {
    const port = await freePort();
    const driver = pgDriver({ ...db.options, port, connect_timeout: 5 });
    const signal = AbortSignal.timeout(10_000);
    const error = await rejection(driver.connect(signal));
    assert.notEqual(error, signal.reason);
    assert.equal(codeOf(error), "ECONNREFUSED");
    assert.equal(driver.canRetryConnect!(error), true);
  });

  it(
    "connecting with a wrong password rejects with SQLSTATE 28P01, not worth retrying",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const driver = pgDriver({
        ...db.options,
        password: "not-the-password",
        connection: { application_name: name },
      });
      const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
      assert.equal(codeOf(error), "28P01");
      assert.equal(driver.canRetryConnect!(error), false);
      assert.doesNotMatch(String((error as Error).message), /not-the-password/);
      await noBackends(sql, name);
    },
  );

  it(
    "connecting to a missing database rejects with SQLSTATE 3D000, not worth retrying",
    TEST,
    async () => {
      const driver = pgDriver({ ...db.options, database: "no_such_database" });
      const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
      assert.equal(codeOf(error), "3D000");
      assert.equal(driver.canRetryConnect!(error), false);
    },
  );

  it("with sslmode prefer, connects without TLS to a server that has none", TEST, async () => {
    const name = uniqueName(PREFIX);
    const driver = pgDriver(`${db.url}?sslmode=prefer`, { connection: { application_name: name } });
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

  it(
    "aborting a connect in flight rejects with the reason and closes the socket",
    TEST,
    async () => {
      const name = uniqueName(PREFIX);
      const proxy = await gatedProxy(db.options);
      try {
        const driver = pgDriver({
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
        await waitFor("the socket to close", () => proxy.closed.length === 1);
        proxy.open();
        await noBackends(sql, name);
        assert.equal(proxy.clients.length, 1);
      } finally {
        await proxy.close();
      }
    },
  );

  it("a server that never answers fails the connect after connect_timeout", TEST, async () => {
    const proxy = await gatedProxy(db.options);
    try {
      const driver = pgDriver({ ...db.options, port: proxy.port, connect_timeout: 1 });
      const error = await rejection(driver.connect(AbortSignal.timeout(10_000)));
      assert.ok(error instanceof Error);
      assert.equal(driver.canRetryConnect!(error), true);
      await waitFor("the socket to close", () => proxy.closed.length === 1);
    } finally {
      await proxy.close();
    }
  });

  it("refuses options the pool owns or takes under another name, naming them", () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ connectionString: db.url }, /"connectionString"/],
      [{ query_timeout: 1000 }, /"query_timeout"/],
      [{ pipeline: true }, /"pipeline"/],
      [{ connectionTimeoutMillis: 1000 }, /"connectionTimeoutMillis".*connect_timeout/],
      [{ keepAlive: true }, /"keepAlive".*keep_alive/],
      [{ application_name: "x" }, /"application_name".*connection: \{ application_name \}/],
      [{ pooler: "session" }, /pooler/],
    ];
    for (const [options, message] of refused) {
      assert.throws(() => pgDriver(db.url, options as PgDriverOptions), (error: Error) => {
        return error instanceof TypeError && message.test(error.message);
      });
    }
    assert.throws(() => pgDriver({ host: "localhost", database: "x" }), TypeError);
    assert.throws(() => pgDriver({ username: "x", port: 70_000 }), RangeError);
    assert.throws(() => pgDriver({ username: "x", connect_timeout: 0 }), RangeError);
    assert.throws(() => pgDriver({ username: "x", ssl: "sometimes" as "require" }), RangeError);
    assert.throws(
      () => pgDriver("postgres://x@a:1,b:2/db?target_session_attrs=main"),
      /target_session_attrs \("main"\)/,
    );
  });

  it("never shows a password in its errors", () => {
    for (
      const url of [
        "postgres://app:hunter2@localhost:99999/app",
        "mysql://app:hunter2@localhost/app",
        "postgres://app:hunter2@localhost/app?sslmode=sometimes",
      ]
    ) {
      assert.throws(() => pgDriver(url), (error: Error) => !error.message.includes("hunter2"));
    }
  });

  it("takes node-postgres's own type parsers", TEST, async () => {
    const types = {
      getTypeParser: (oid: number, format?: "text" | "binary") =>
        oid === 20 ? (text: string) => BigInt(text) : pg.types.getTypeParser(oid, format),
    };
    for (const parsers of [pg.types, types]) {
      const driver = pgDriver(db.url, { types: parsers });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        const { rows } = await connection.query("select 2::int8 as n", []);
        assert.deepEqual(rows, [{ n: parsers === types ? 2n : "2" }]);
      } finally {
        await connection.close();
      }
    }
  });
});
