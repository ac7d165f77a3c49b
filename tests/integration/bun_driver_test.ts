/**
 * The Bun.SQL driver against a real PostgreSQL. Bun.SQL exists only in Bun:
 * on another runtime every test here is reported as skipped, and no server
 * is started.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { bunDriver, type BunDriverOptions } from "../../src/drivers/bun/mod.ts";
import type { DriverConnection, QueryResult } from "../../src/driver.ts";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import {
  type Admin,
  admin,
  freePort,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import {
  backendPid,
  codeOf,
  noBackends,
  rejection,
  running,
  uniqueName,
} from "../support/driver_helpers.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";

const ON_BUN = typeof (globalThis as { Bun?: { SQL?: unknown } }).Bun?.SQL === "function";
/** Why the tests cannot run here, or `undefined` on Bun. */
const SKIP = ON_BUN ? undefined : "Bun.SQL needs Bun";
const TEST = { timeout: 30_000 };
const PREFIX = "x-pool-bun-test";

// At the top level rather than in before(): Bun gives hooks 5 s, which
// initdb can take.
const db: TestPostgres | undefined = ON_BUN ? await startPostgres() : undefined;
const sql: Admin | undefined = db && admin(db.url);

/** Defines one test, reported as skipped with the reason off Bun. */
function test(name: string, fn: () => void | Promise<void>): void {
  if (SKIP !== undefined) it(name, { skip: SKIP }, fn);
  else it(name, TEST, fn);
}

/** The server and admin connection; only called from tests that run. */
function server(): { db: TestPostgres; sql: Admin } {
  return { db: db!, sql: sql! };
}

function driverFor(name: string, options: BunDriverOptions = {}) {
  return bunDriver(server().db.url, { connection: { application_name: name }, ...options });
}

async function open(name = uniqueName(PREFIX)): Promise<DriverConnection> {
  return await driverFor(name).connect(AbortSignal.timeout(10_000));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/**
 * Splits one direction of the protocol into messages and hands each one's
 * type and body to `onMessage`. The client's first message (startup) has
 * no type byte.
 */
function messages(
  untypedFirst: boolean,
  onMessage: (type: string, body: Uint8Array) => void,
): (chunk: Uint8Array) => void {
  let pending = new Uint8Array(0);
  let typed = !untypedFirst;
  return (chunk) => {
    const data = new Uint8Array(pending.length + chunk.length);
    data.set(pending);
    data.set(chunk, pending.length);
    let at = 0;
    for (;;) {
      const head = typed ? 1 : 0;
      if (data.length - at < head + 4) break;
      const length = new DataView(data.buffer, at + head, 4).getInt32(0);
      if (data.length - at < head + length) break;
      if (typed) onMessage(String.fromCharCode(data[at]), data.subarray(at + 5, at + 1 + length));
      typed = true;
      at += head + length;
    }
    pending = data.slice(at);
  };
}

/**
 * A loopback proxy to the server that reads the protocol of each connection
 * through it, once logged in: the messages the client sends (a Parse as
 * `P name`, with the statement's name), and how many exchanges (each ended
 * by Sync or a simple Query) it has sent that the server has not yet
 * answered (ReadyForQuery).
 */
async function protocolTap() {
  let sent: string[] = [];
  let most = 0;
  const sockets: Socket[] = [];
  const listener: Server = createServer((client) => {
    const upstream = connect(server().db.options.port, server().db.options.host);
    sockets.push(client, upstream);
    let loggedIn = false;
    let unanswered = 0;
    const fromClient = messages(true, (type, body) => {
      if (!loggedIn) return;
      const name = new TextDecoder().decode(body.subarray(0, body.indexOf(0)));
      sent.push(type === "P" ? `P ${name}` : type);
      if (type === "S" || type === "Q") most = Math.max(most, ++unanswered);
    });
    const fromServer = messages(false, (type) => {
      if (type !== "Z") return;
      if (loggedIn) unanswered--;
      loggedIn = true;
    });
    client.on("data", (chunk: Uint8Array) => {
      upstream.write(chunk);
      fromClient(chunk);
    });
    upstream.on("data", (chunk: Uint8Array) => {
      client.write(chunk);
      fromServer(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  const port = await new Promise<number>((resolve) =>
    listener.listen(0, "127.0.0.1", () => resolve((listener.address() as { port: number }).port))
  );
  return {
    port,
    /**
     * What the clients sent since the last call, and the most exchanges one
     * of them had unanswered at once; starts counting afresh.
     */
    take(): { sent: string[]; most: number } {
      const taken = { sent, most };
      sent = [];
      most = 0;
      return taken;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

const SUITE = "bunDriver against a real PostgreSQL";
describe(SKIP === undefined ? SUITE : `${SUITE} (skipped: ${SKIP})`, { skip: SKIP }, () => {
  after(async () => {
    await sql?.close();
    await db?.stop();
  });

  test("runs a parameterised query and returns plain rows, the row count and the command", async () => {
    const connection = await open();
    try {
      const result = await connection.query("select $1::int + 1 as n, $2::text as t", [41, "x"]);
      assert.deepEqual(result, { rows: [{ n: 42, t: "x" }], rowCount: 1, command: "SELECT" });
      assert.equal(Object.getPrototypeOf(result.rows), Array.prototype);

      await connection.query("create temporary table t (n int)", []);
      const insert = await connection.query("insert into t values ($1), ($2)", [1, 2]);
      assert.deepEqual(insert, { rows: [], rowCount: 2, command: "INSERT" });
    } finally {
      await connection.close();
    }
  });

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

  test("returns arrays as plain arrays, with or without parameters, and bytea as bytes", async () => {
    const connection = await open();
    const columns =
      `'{1,2}'::int4[] as ints, '{1.5}'::float4[] as floats, '{1,NULL}'::int4[] as holes,
      '{{1,2},{3,4}}'::int4[] as nested, '{a,"b c",NULL}'::text[] as texts, '\\x0102'::bytea as bytes`;
    const expected = {
      ints: [1, 2],
      floats: [1.5],
      holes: [1, null],
      nested: [[1, 2], [3, 4]],
      texts: ["a", "b c", null],
    };
    try {
      for (
        const [text, params] of [[`select ${columns}`, []], [`select ${columns}, $1::int as p`, [
          1,
        ]]] as const
      ) {
        const [{ bytes, p: _, ...row }] = (await connection.query(text, params)).rows;
        assert.deepEqual(row, expected, `${params.length} parameters`);
        for (const value of Object.values(row)) assert.ok(Array.isArray(value));
        assert.ok(bytes instanceof Uint8Array);
        assert.deepEqual([...bytes], [1, 2]);
      }
      const { rows } = await connection.query("select $1::int[] as ints, $2::text[] as texts", [
        [3, null],
        ['q"uote', "back\\slash", "", null],
      ]);
      assert.deepEqual(rows, [{ ints: [3, null], texts: ['q"uote', "back\\slash", "", null] }]);
      // Unlike postgres.js, which refuses it, Bun sends undefined as NULL.
      assert.deepEqual((await connection.query("select $1::int as n", [undefined])).rows, [{
        n: null,
      }]);
    } finally {
      await connection.close();
    }
  });

  test("gives a database error its SQLSTATE as code and stays usable", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.equal(codeOf(error), "22012");
      assert.equal((error as { bunCode?: unknown }).bunCode, "ERR_POSTGRES_SERVER_ERROR");
      assert.equal((error as { severity?: unknown }).severity, "ERROR");
      assert.equal(connection.dirty, false);
      assert.equal(connection.closed, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test("refuses two statements in one query with parameters", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1; select $1::int", [2]));
      assert.equal(codeOf(error), "42601");
    } finally {
      await connection.close();
    }
  });

  test("a query without parameters may hold several statements and returns the last result", async () => {
    const connection = await open();
    try {
      const result = await connection.query("select 1 as a; select 2 as b, 3 as c", []);
      assert.deepEqual(result, { rows: [{ b: 2, c: 3 }], rowCount: 1, command: "SELECT" });
      assert.equal(connection.dirty, false);
      await connection.query("begin; select 1", []);
      assert.equal(connection.dirty, true, "the BEGIN inside opened a transaction");
      await connection.query("commit; select 1", []);
      assert.equal(connection.dirty, true, "a COMMIT among several statements counts as doubtful");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      // Fails after the BEGIN ran: the transaction is open and failed.
      await rejection(connection.query("begin; select 1 / 0", []));
      assert.equal(connection.dirty, true);
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "25P02");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      assert.deepEqual((await connection.query("select 4 as d", [])).rows, [{ d: 4 }]);
    } finally {
      await connection.close();
    }
  });

  test("is dirty while a transaction is open and clean once it ends", async () => {
    const connection = await open();
    const dirtyAfter = async (text: string) => {
      await connection.query(text, []);
      return connection.dirty;
    };
    try {
      assert.equal(connection.dirty, false);
      assert.equal(await dirtyAfter("begin"), true);
      assert.equal(await dirtyAfter("select 1"), true);
      assert.equal(await dirtyAfter("commit"), false);
      assert.equal(await dirtyAfter("start transaction read only"), true);
      assert.equal(await dirtyAfter("rollback"), false);
      assert.equal(await dirtyAfter("BEGIN"), true);
      assert.equal(await dirtyAfter("savepoint s"), true);
      assert.equal(await dirtyAfter("rollback to savepoint s"), true);
      assert.equal(await dirtyAfter("commit and chain"), true);
      assert.equal(await dirtyAfter("rollback and chain"), true);
      assert.equal(await dirtyAfter("/* done */ END;"), false);
      assert.equal(await dirtyAfter("select 1"), false);
    } finally {
      await connection.close();
    }
  });

  test("stays dirty in a failed transaction until reset() rolls it back", async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.query("insert into t values ($1)", [1]);
      await rejection(connection.query("select 1 / 0", []));
      assert.equal(connection.dirty, true);
      assert.equal(codeOf(await rejection(connection.query("select 1", []))), "25P02");
      await connection.ping();
      assert.equal(connection.dirty, true);

      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query("select count(*)::int as n from t", []);
      assert.deepEqual(rows, [{ n: 0 }]);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  test("is dirty while a statement runs", async () => {
    const connection = await open();
    try {
      const query = connection.query("select pg_sleep(0.05)", []);
      assert.equal(connection.dirty, true);
      await query;
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  test("discard() clears settings, temporary tables and the transaction", async () => {
    const connection = await open();
    try {
      await connection.query("set statement_timeout = '42s'", []);
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query(
        "select current_setting('statement_timeout') as timeout, to_regclass('pg_temp.t') as t",
        [],
      );
      assert.deepEqual(rows, [{ timeout: "0", t: null }]);
      // The prepared statements Bun cached survive: the same text runs again.
      await connection.query("select $1::int as n", [1]);
      await connection.discard!(AbortSignal.timeout(5_000));
      assert.deepEqual((await connection.query("select $1::int as n", [2])).rows, [{ n: 2 }]);
    } finally {
      await connection.close();
    }
  });

  test("queues concurrent calls, so one aborted while queued is never sent", async () => {
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
    const name = uniqueName(PREFIX);
    const connection = await open(name);
    try {
      await connection.query("begin", []);
      const sleeping = rejection(connection.query("select pg_sleep(10)", []));
      await running(server().sql, name, "select pg_sleep(10)");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(codeOf(await sleeping), "57014");
      assert.equal(connection.dirty, false);
      assert.equal(codeOf(await rejection(connection.query("savepoint s", []))), "25P01");
    } finally {
      await connection.close();
    }
  });

  test("aborting a running query rejects with the reason, cancels it on the server and keeps the connection", async () => {
    const name = uniqueName(PREFIX);
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

  test("aborts racing the statement's end never cancel the next statement or wedge the connection", async () => {
    const driver = driverFor(uniqueName(PREFIX));
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
        // 57014; the driver closes the connection instead when it cannot rule that out.
        const next = await connection.query(
          "select pg_sleep(0.02), $1::int as i",
          [i],
          AbortSignal.timeout(5_000),
        ).then((result) => result, (error: unknown) => error);
        if (next instanceof Error) {
          assert.equal(codeOf(next), "CONNECTION_CLOSED", String(next));
          assert.equal(connection.closed, true);
          replaced++;
          connection = await driver.connect(AbortSignal.timeout(10_000));
          continue;
        }
        assert.equal((next as QueryResult).rows[0].i, i);
        kept++;
      }
      assert.ok(kept > 0, "some connections survived their abort");
    } finally {
      await connection.close();
    }
    assert.equal(kept + replaced, 40);
  });

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

  test("a parameter Bun cannot send fails the call and keeps the connection", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select $1 as x", [Symbol("no")]));
      assert.ok(error instanceof TypeError, String(error));
      assert.equal(connection.closed, false);
      assert.deepEqual((await connection.query("select 1 as one", [])).rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

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

  test("classifies server-wide errors as postgresDriver does", async () => {
    const driver = driverFor(uniqueName(PREFIX));
    assert.equal(driver.classifyError!({ code: "57P01" }), "serverGone");
    assert.equal(driver.classifyError!({ code: "25006" }), "readOnly");
    assert.equal(driver.classifyError!({ code: "22012" }), undefined);
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("set default_transaction_read_only = on", []);
      const error = await rejection(connection.query("create temporary table t (n int)", []));
      assert.equal(driver.classifyError!(error), "readOnly");
    } finally {
      await connection.close();
    }
  });

  test("refuses a pooler other than transaction in postgresDriver's words, naming the value", () => {
    const url = server().db.url;
    for (const value of ["statement", "session", "TRANSACTION", 1, null]) {
      const options = { pooler: value } as unknown as BunDriverOptions;
      let postgresMessage = "";
      try {
        postgresDriver(url, options as never);
      } catch (error) {
        postgresMessage = (error as Error).message;
      }
      assert.throws(
        () => bunDriver(url, options),
        (error: Error) =>
          error instanceof TypeError &&
          error.message === postgresMessage.replace("the postgres driver", "the Bun.SQL driver") &&
          error.message.includes(typeof value === "string" ? `"${value}"` : String(value)),
      );
    }
  });

  test('with pooler "transaction", the pool refuses resetSession and discard() rejects, keeping the connection', async () => {
    const driver = driverFor(uniqueName(PREFIX), { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    assert.throws(
      () => new ConnectionPool({ driver, resetSession: true }),
      (error: Error) => error instanceof TypeError && /resetSession \(true\)/.test(error.message),
    );
    const direct = driverFor(uniqueName(PREFIX));
    assert.equal(direct.sharesSessions, false);
    await new ConnectionPool({ driver: direct, resetSession: true }).close();
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("begin", []);
      await assert.rejects(connection.discard!(), TypeError);
      assert.equal(connection.dirty, true, "nothing was sent: the transaction is still open");
      await connection.reset();
      assert.deepEqual((await connection.query("select 1 as n", [])).rows, [{ n: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test('with pooler "transaction", sends each statement unnamed in one exchange; prepare: true names it again', async () => {
    const tap = await protocolTap();
    const text = "select count(*)::int as n from pg_prepared_statements where $1::int > 0";
    const outcomes: Record<string, { prepared: number[]; sent: string[] }> = {};
    try {
      for (const prepare of [undefined, true]) {
        const connection = await bunDriver({ ...server().db.options, port: tap.port }, {
          pooler: "transaction",
          prepare,
        }).connect(AbortSignal.timeout(10_000));
        try {
          tap.take();
          const prepared = [];
          for (let i = 1; i <= 2; i++) {
            prepared.push((await connection.query(text, [i])).rows[0].n as number);
          }
          outcomes[String(prepare)] = { prepared, sent: tap.take().sent };
        } finally {
          await connection.close();
        }
      }
    } finally {
      await tap.close();
    }
    // Parse, Describe, Bind, Execute, Sync: nothing left on the backend for the next statement.
    const unnamed = ["P ", "D", "B", "E", "S"];
    assert.deepEqual(outcomes.undefined, { prepared: [0, 0], sent: [...unnamed, ...unnamed] });
    // Bun prepares in an exchange of its own, then only binds and executes.
    assert.deepEqual(outcomes.true, {
      prepared: [1, 1],
      sent: ["P P0", "D", "S", "B", "E", "S", "B", "E", "S"],
    });
  });

  test("sends one statement at a time, where Bun.SQL alone pipelines a prepared statement's runs", async () => {
    const tap = await protocolTap();
    const text = "select $1::int as n";
    const ten = Array.from({ length: 10 }, (_, i) => i);
    const mostUnanswered: Record<string, number> = {};
    try {
      const SQL = (globalThis as { Bun?: { SQL?: unknown } }).Bun!.SQL as new (
        options: Record<string, unknown>,
      ) => {
        unsafe(text: string, params: unknown[]): Promise<unknown>;
        close(): Promise<void>;
      };
      const { host, username, password, database } = server().db.options;
      const bun = new SQL({
        adapter: "postgres",
        hostname: host,
        port: tap.port,
        username,
        password,
        database,
        max: 1,
      });
      try {
        await bun.unsafe(text, [0]);
        tap.take();
        await Promise.all(ten.map((i) => bun.unsafe(text, [i])));
        mostUnanswered["Bun.SQL alone"] = tap.take().most;
      } finally {
        await bun.close();
      }
      for (const options of [{ prepare: true }, { pooler: "transaction" as const }]) {
        const connection = await bunDriver({ ...server().db.options, port: tap.port }, options)
          .connect(AbortSignal.timeout(10_000));
        try {
          await connection.query(text, [0]);
          tap.take();
          const results = await Promise.all(ten.map((i) => connection.query(text, [i])));
          assert.deepEqual(results.map((result) => result.rows[0].n), ten);
          mostUnanswered[JSON.stringify(options)] = tap.take().most;
        } finally {
          await connection.close();
        }
      }
    } finally {
      await tap.close();
    }
    assert.ok(mostUnanswered["Bun.SQL alone"] > 1, JSON.stringify(mostUnanswered));
    assert.deepEqual(mostUnanswered, {
      "Bun.SQL alone": mostUnanswered["Bun.SQL alone"],
      '{"prepare":true}': 1,
      '{"pooler":"transaction"}': 1,
    });
  });

  test("refuses options the pool owns, a missing username, a bad port and several hosts", () => {
    const url = server().db.url;
    const owned = { max: 2 } as unknown as BunDriverOptions;
    assert.throws(() => bunDriver(url, owned), TypeError);
    const idle = { idleTimeout: 2 } as unknown as BunDriverOptions;
    assert.throws(() => bunDriver(url, idle), TypeError);
    assert.throws(() => bunDriver({ host: "localhost", database: "x" }), TypeError);
    assert.throws(() => bunDriver({ username: "x", port: 70_000 }), /port \(70000\)/);
    assert.throws(() => bunDriver({ username: "x", connect_timeout: 0 }), RangeError);
    assert.throws(() => bunDriver("postgres://x@a,b/db"), RangeError);
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
