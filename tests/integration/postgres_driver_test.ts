import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import type { DriverConnection } from "../../src/driver.ts";
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

const TEST = { timeout: 30_000 };

// At the top level rather than in before(): Bun ignores a hook's timeout
// option and gives hooks 5 s, which initdb can take.
const db: TestPostgres = await startPostgres();
const sql: Admin = admin(db.url);
const PREFIX = "x-pool-driver-test";

async function open(name = uniqueName(PREFIX)): Promise<DriverConnection> {
  const driver = postgresDriver(db.url, {
    connection: { application_name: name },
  });
  return await driver.connect(AbortSignal.timeout(10_000));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP proxy to the server that holds every client until `open()` is
 * called, so a test can abort a connect while it is in flight.
 */
async function gatedProxy(target: { host: string; port: number }) {
  const clients: Socket[] = [];
  const closed: Socket[] = [];
  let open = false;
  const waiting: (() => void)[] = [];
  const pipes: [Socket, Socket][] = [];
  const server: Server = createServer((client) => {
    clients.push(client);
    client.on("close", () => closed.push(client));
    client.on("error", () => {});
    // Buffered rather than paused: a paused socket would not see its end.
    const held: Uint8Array[] = [];
    const hold = (chunk: Uint8Array) => held.push(chunk);
    client.on("data", hold);
    const connect = () => {
      if (client.destroyed) return;
      const upstream = createConnection(target.port, target.host);
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.off("data", hold);
      for (const chunk of held) upstream.write(chunk);
      client.pipe(upstream);
      upstream.pipe(client);
      pipes.push([client, upstream]);
    };
    open ? connect() : waiting.push(connect);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    })
  );
  return {
    port,
    clients,
    closed,
    open() {
      open = true;
      for (const connect of waiting.splice(0)) connect();
    },
    /** Stops forwarding, in both directions, without closing anything. */
    freeze() {
      for (const [client, upstream] of pipes) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("postgresDriver against a real PostgreSQL", () => {
  after(async () => {
    await sql.close();
    await db.stop();
  });

  it(
    "runs a parameterised query and returns plain rows, the row count and the command",
    TEST,
    async () => {
      const connection = await open();
      try {
        const result = await connection.query(
          "select $1::int + 1 as n, $2::text as t",
          [41, "x"],
        );
        assert.deepEqual(result.rows, [{ n: 42, t: "x" }]);
        assert.equal(Object.getPrototypeOf(result.rows), Array.prototype);
        assert.equal(result.rowCount, 1);
        assert.equal(result.command, "SELECT");

        await connection.query("create temporary table t (n int)", []);
        const insert = await connection.query(
          "insert into t values ($1), ($2)",
          [1, 2],
        );
        assert.deepEqual(
          [insert.rows, insert.rowCount, insert.command],
          [[], 2, "INSERT"],
        );
      } finally {
        await connection.close();
      }
    },
  );

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

  it("parses arrays of built-in types and sends JS arrays as parameters", TEST, async () => {
    const driver = postgresDriver(db.url);
    const text = `select array[1, 2]::int[] as ints,
      array['x', 'y z', 'NULL', null, 'a"b\\c']::text[] as texts,
      '{{1,2},{3,4}}'::int[] as nested,
      array[true, false] as bools,
      array['{"a":1}']::jsonb[] as jsons,
      $1::int[] as param_ints,
      $2::text[] as param_texts`;
    const params = [[3, null], ['q"uote', "back\\slash", "", null]];
    const expected = {
      ints: [1, 2],
      texts: ["x", "y z", "NULL", null, 'a"b\\c'],
      nested: [[1, 2], [3, 4]],
      bools: [true, false],
      jsons: [{ a: 1 }],
      param_ints: [3, null],
      param_texts: ['q"uote', "back\\slash", "", null],
    };
    // The first connection fetches the array types, the second reuses them.
    for (let i = 0; i < 2; i++) {
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        const { rows } = await connection.query(text, params);
        assert.deepEqual(rows, [expected]);
      } finally {
        await connection.close();
      }
    }
  });

  it("keeps the SQLSTATE code of a database error and stays usable", TEST, async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.equal(codeOf(error), "22012");
      assert.equal((error as Error).name, "PostgresError");
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  it("returns whole rows after a statement that failed midway through its rows", TEST, async () => {
    const connection = await open();
    try {
      // Two rows reach the client before the division by zero; postgres.js
      // 3.4.9 then starts the next result at index 2.
      const error = await rejection(
        connection.query(
          "select case when g < 3 then g else 1 / (g - g) end as x from generate_series(1, 5) g",
          [],
        ),
      );
      assert.equal(codeOf(error), "22012");
      const { rows, rowCount } = await connection.query("select $1::int as n", [7]);
      assert.deepEqual(rows, [{ n: 7 }]);
      assert.equal(rowCount, 1);
    } finally {
      await connection.close();
    }
  });

  it("refuses two statements in one query", TEST, async () => {
    const connection = await open();
    try {
      const error = await rejection(
        connection.query("select 1; select 2", []),
      );
      assert.equal(codeOf(error), "42601");
    } finally {
      await connection.close();
    }
  });

  it("is dirty while a transaction is open and clean once it ends", TEST, async () => {
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

  it("stays dirty in a failed transaction until reset() rolls it back", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      await connection.query("begin", []);
      await connection.query("insert into t values (1)", []);
      await rejection(connection.query("select 1 / 0", []));
      assert.equal(connection.dirty, true);
      const failed = await rejection(connection.query("select 1", []));
      assert.equal(codeOf(failed), "25P02");
      await connection.ping();
      assert.equal(connection.dirty, true);

      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query(
        "select count(*)::int as n from t",
        [],
      );
      assert.deepEqual(rows, [{ n: 0 }]);
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(connection.dirty, false);
    } finally {
      await connection.close();
    }
  });

  it("is dirty while a statement runs", TEST, async () => {
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
      const sleeping = rejection(
        connection.query("select pg_sleep(10)", []),
      );
      await running(sql, name, "select pg_sleep(10)");
      await connection.reset(AbortSignal.timeout(5_000));
      assert.equal(codeOf(await sleeping), "57014");
      assert.equal(connection.dirty, false);
      const savepoint = await rejection(connection.query("savepoint s", []));
      assert.equal(codeOf(savepoint), "25P01", "no transaction is open");
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
        const query = rejection(
          connection.query("select pg_sleep(10)", [], controller.signal),
        );
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

  it("an already aborted signal rejects without sending anything", TEST, async () => {
    const connection = await open();
    try {
      await connection.query("create temporary table t (n int)", []);
      const reason = new Error("too late");
      const error = await rejection(
        connection.query(
          "insert into t values (1)",
          [],
          AbortSignal.abort(reason),
        ),
      );
      assert.equal(error, reason);
      assert.equal(
        await rejection(connection.ping(AbortSignal.abort(reason))),
        reason,
      );
      const { rows } = await connection.query(
        "select count(*)::int as n from t",
        [],
      );
      assert.deepEqual(rows, [{ n: 0 }]);
    } finally {
      await connection.close();
    }
  });

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
        assert.ok(calls[0][0] instanceof Error);

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
    "survives the upstream crash sequence: a terminated backend, then two queries",
    TEST,
    async () => {
      // The window between the socket's error and its close is a few ms, so
      // try a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        const name = uniqueName(PREFIX);
        const sent: string[] = [];
        const driver = postgresDriver(db.url, {
          connection: { application_name: name },
          debug: (_id: number, text: string) => sent.push(text),
        });
        const connection = await driver.connect(AbortSignal.timeout(10_000));
        try {
          await connection.ping();
          assert.equal(await sql.terminate(name), 1);
          sent.length = 0;
          // No wait for the close: the first query may meet the dying socket.
          const first = await rejection(connection.query("select 1", []));
          const second = await rejection(connection.query("select 2", []));
          assert.ok(first instanceof Error);
          assert.equal(codeOf(second), "CONNECTION_CLOSED");
          assert.ok(sent.length <= 1, `sent after the kill: ${sent}`);
          await waitFor("the connection to close", () => connection.closed);
        } finally {
          await connection.close();
        }
        assert.deepEqual(await sql.backends(name), []);
      }
      // postgres.js crashed from a setImmediate after such a sequence.
      await sleep(200);
    },
  );

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
    const driver = postgresDriver(db.url, {
      connect_timeout: 2,
      connection: { application_name: name },
    });
    const connection = await driver.connect(AbortSignal.timeout(10_000));
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
        const driver = postgresDriver({
          ...db.options,
          port: proxy.port,
          connect_timeout: 1,
        });
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
