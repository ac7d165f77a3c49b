/**
 * The fault proxy between postgres.js and a real PostgreSQL: each mode does
 * what tests/_fault_proxy.ts documents.
 */

import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect } from "node:net";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { type Admin, admin, startPostgres, type TestPostgres, waitFor } from "./postgres.ts";
import { type FaultProxy, startFaultProxy } from "./fault_proxy.ts";
import { assertNoLeaks } from "./leak_check.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const APP = "x-pool-proxy-test";
let proxy: FaultProxy;
let clients: postgres.Sql[] = [];

/** A postgres.js client with one connection through the proxy. */
function client(): postgres.Sql {
  const sql = postgres({
    ...server.options,
    host: "127.0.0.1",
    port: proxy.port,
    max: 1,
    fetch_types: false,
    connect_timeout: 2,
    onnotice: () => {},
    // The backend notices a lost client within 100 ms, even inside pg_sleep().
    connection: { application_name: APP, client_connection_check_interval: "100ms" },
  });
  clients.push(sql);
  return sql;
}

/** Settles `promise` or reports "pending" after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  return Promise.race([promise, pending]).finally(() => clearTimeout(timer));
}

const backends = () => db.backends(APP);

/** Resolves once one of the test's sessions runs a statement on the server. */
const running = () =>
  waitFor("a statement to run on the server", async () => {
    const rows = await db.query(
      "select 1 from pg_stat_activity where application_name = $1 and state = 'active'",
      [APP],
    );
    return rows.length > 0;
  });

describe("fault proxy", () => {
  beforeEach(async () => {
    proxy = await startFaultProxy(server.options);
  });

  afterEach(async () => {
    await Promise.all(clients.map((sql) => sql.end({ timeout: 1 }).catch(() => {})));
    clients = [];
    await proxy.close();
    assert.equal(proxy.pairs.length, 0);
    await waitFor("the test's backends to leave", async () => (await backends()).length === 0);
  });

  after(async () => {
    await db.close();
    await server.stop();
  });

  it("forwards both ways in pass mode with one pair per connection", async () => {
    const [a, b] = [client(), client()];
    assert.deepEqual(Array.from(await a`select 1 as n`), [{ n: 1 }]);
    assert.deepEqual(Array.from(await b`select 2 as n`), [{ n: 2 }]);
    assert.equal(proxy.pairs.length, 2);
    assert.equal(proxy.accepted, 2);
    await a.end();
    await waitFor("the ended connection's pair to go", () => proxy.pairs.length === 1);
  });

  it("delays each direction by its milliseconds and keeps bytes in order", async () => {
    const sql = client();
    await sql`select 1`;
    proxy.set({ mode: "pass", delay: { up: 100, down: 100 } });
    const start = Date.now();
    const rows = await sql`select generate_series(1, 1000) as n`;
    assert.ok(Date.now() - start >= 190, `took ${Date.now() - start} ms`);
    assert.deepEqual(rows.map((row) => row.n), Array.from({ length: 1000 }, (_, i) => i + 1));
    proxy.set({ mode: "pass" });
  });

  it("holds everything in blackhole mode and delivers it once healed", async () => {
    const sql = client();
    await sql`select 1`;
    proxy.set({ mode: "blackhole" });
    const query = sql`select 42 as n`;
    assert.equal(await within(query, 300), "pending");
    const [pid] = await backends();
    assert.ok(pid, "the server still has the session");
    proxy.set({ mode: "pass" });
    assert.deepEqual(Array.from(await query), [{ n: 42 }]);
  });

  it("cuts both sockets with FIN: the client sees the connection closed", async () => {
    const sql = client();
    await sql`select 1`;
    // postgres.js sends a query only once something awaits it.
    const query = Promise.resolve(sql`select pg_sleep(5)`);
    await running();
    proxy.set({ mode: "cut" });
    await assert.rejects(query, (error: { code?: string }) => error.code === "CONNECTION_CLOSED");
    await proxy.drained();
  });

  it("resets both sockets: the client sees ECONNRESET", async () => {
    const sql = client();
    await sql`select 1`;
    // postgres.js sends a query only once something awaits it.
    const query = Promise.resolve(sql`select pg_sleep(5)`);
    await running();
    proxy.set({ mode: "reset" });
    await assert.rejects(query, (error: { code?: string }) => error.code === "ECONNRESET");
    await proxy.drained();
  });

  it("closes new connections at once when cut or reset is the default", async () => {
    // A raw socket: postgres.js would retry a connection closed while it connects.
    const outcome = () =>
      new Promise<string>((resolve) => {
        const socket = connect(proxy.port, "127.0.0.1");
        socket.on("error", (error: { code?: string }) => resolve(error.code ?? "error"));
        socket.on("end", () => resolve("end"));
        socket.on("close", () => resolve("close"));
      });
    proxy.set({ mode: "cut" });
    assert.equal(await outcome(), "end");
    proxy.set({ mode: "reset" });
    assert.equal(await outcome(), "ECONNRESET");
    assert.equal(proxy.accepted, 2);
    await proxy.drained();
  });

  it("refuses new connections with ECONNREFUSED while live pairs keep working", async () => {
    const live = client();
    await live`select 1`;
    await proxy.refuse(true);
    await assert.rejects(client()`select 1`, (error: { code?: string }) => {
      return error.code === "ECONNREFUSED";
    });
    assert.deepEqual(Array.from(await live`select 2 as n`), [{ n: 2 }]);
    await proxy.refuse(false);
    assert.deepEqual(Array.from(await client()`select 3 as n`), [{ n: 3 }]);
  });

  it("ends every pair on close()", async () => {
    const [a, b] = [client(), client()];
    await Promise.all([a`select 1`, b`select 1`]);
    proxy.set({ mode: "blackhole" });
    await proxy.close();
    assert.equal(proxy.pairs.length, 0);
    await waitFor("the sessions to leave the server", async () => (await backends()).length === 0);
  });

  it("leaves no leak when the pool's connections are reset mid-query", async () => {
    const pool = new ConnectionPool({
      driver: postgresDriver({
        ...server.options,
        port: proxy.port,
        connection: { application_name: APP },
      }),
      maxOpenConns: 3,
      onError: () => {},
    });
    try {
      await Promise.all([1, 2, 3].map(() => pool.execute("select pg_sleep(0.01)")));
      const running = [1, 2, 3].map(() => pool.execute("select pg_sleep(5)"));
      await waitFor("three statements to run", () => proxy.pairs.length === 3);
      proxy.set({ mode: "reset" });
      for (const query of running) await assert.rejects(query);
      proxy.set({ mode: "pass" });
      assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
      await assertNoLeaks(pool, { admin: db, applicationName: APP, proxy });
    } finally {
      await pool.close();
    }
  });
});
