/**
 * The server controls of tests/_server_control.ts against the test's own
 * PostgreSQL. Those that need its processes are skipped, with the reason,
 * when `DATABASE_URL` is set.
 */

import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  type Admin,
  admin,
  type ConnectionOptions,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "./postgres.ts";
import { serverControl } from "./server_control.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const control = serverControl(server, db);
const skip = control.processUnavailable;
const APP = "x-pool-control-test";
let clients: postgres.Sql[] = [];

/** A postgres.js client with one connection that never reconnects on its own timers. */
function client(options: ConnectionOptions = server.options): postgres.Sql {
  const sql = postgres({
    ...options,
    max: 1,
    fetch_types: false,
    connect_timeout: 2,
    onnotice: () => {},
    connection: { application_name: APP },
  });
  clients.push(sql);
  return sql;
}

async function pidOf(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`select pg_backend_pid() as pid`;
  return row.pid;
}

/** Settles `promise` or reports "pending" after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<"pending">((resolve) => {
    timer = setTimeout(() => resolve("pending"), ms);
  });
  return Promise.race([promise, pending]).finally(() => clearTimeout(timer));
}

const code = (expected: string) => (error: { code?: string }) => error.code === expected;

describe("server control", () => {
  afterEach(async () => {
    await control.close();
    await Promise.all(clients.map((sql) => sql.end({ timeout: 1 }).catch(() => {})));
    clients = [];
    await waitFor("the test's sessions to leave", async () => {
      return (await db.backends(APP)).length === 0;
    });
  });

  after(async () => {
    await db.close();
    await server.stop();
  });

  it("terminates a backend: it leaves the server", async () => {
    const sql = client();
    const pid = await pidOf(sql);
    assert.deepEqual(await db.backends(APP), [pid]);
    assert.equal(await control.terminate(pid), true);
    await waitFor("the backend to leave", async () => {
      return (await db.query("select 1 from pg_stat_activity where pid = $1", [pid])).length === 0;
    });
  });

  it("kills a backend with SIGKILL: the server ends every session and recovers", {
    skip,
  }, async () => {
    const [victim, bystander] = [client(), client()];
    const pid = await pidOf(victim);
    await pidOf(bystander);
    // In flight, as postgres.js would silently reconnect an idle connection.
    const running = [victim, bystander].map((sql) => Promise.resolve(sql`select pg_sleep(5)`));
    await waitFor("both statements to run", async () => {
      const rows = await db.query(
        "select 1 from pg_stat_activity where application_name = $1 and state = 'active'",
        [APP],
      );
      return rows.length === 2;
    });
    control.signal(pid, "SIGKILL");
    for (const query of running) await assert.rejects(query);
    await waitFor("the server to accept connections again", async () => {
      return await db.query("select 1").then(() => true, () => false);
    }, 10_000);
  });

  it("stops a backend with SIGSTOP: its statements wait until SIGCONT", { skip }, async () => {
    const sql = client();
    const pid = await pidOf(sql);
    control.signal(pid, "SIGSTOP");
    const query = Promise.resolve(sql`select 7 as n`);
    assert.equal(await within(query, 300), "pending");
    control.signal(pid, "SIGCONT");
    assert.deepEqual(Array.from(await query), [{ n: 7 }]);
  });

  it("stops the postmaster: new connections wait, open sessions go on", { skip }, async () => {
    const open = client();
    await pidOf(open);
    const postmaster = await control.postmasterPid();
    control.signal(postmaster, "SIGSTOP");
    const fresh = Promise.resolve(client()`select 1 as n`);
    assert.equal(await within(fresh, 500), "pending");
    assert.deepEqual(Array.from(await open`select 2 as n`), [{ n: 2 }]);
    control.signal(postmaster, "SIGCONT");
    assert.deepEqual(Array.from(await fresh), [{ n: 1 }]);
  });

  it("shuts down fast and starts again on the same data directory", { skip }, async () => {
    await db.query("create table if not exists control_kept (n int)");
    await db.query("insert into control_kept values (1)");
    const sql = client();
    await pidOf(sql);
    await control.stop();
    await assert.rejects(sql`select 1`);
    await control.start();
    const rows = await db.query("select n from control_kept");
    assert.deepEqual(rows, [{ n: 1 }]);
    await db.query("drop table control_kept");
  });

  it("sets statement_timeout for every session with ALTER SYSTEM", async () => {
    const sql = client();
    await pidOf(sql);
    await control.setSystem("statement_timeout", "200ms");
    // Open sessions read the reloaded file before their next statement.
    await assert.rejects(sql`select pg_sleep(1)`, code("57014"));
    await control.setSystem("statement_timeout", null);
    await sql`select pg_sleep(0.3)`;
  });

  it("sets per-role idle timeouts that end idle sessions", async () => {
    const options = await control.createRole("x_pool_idle", {
      settings: {
        idle_in_transaction_session_timeout: "200ms",
        idle_session_timeout: "200ms",
      },
    });
    const idle = client(options);
    const pid = await pidOf(idle);
    assert.deepEqual(await db.backends(APP), [pid]);
    await waitFor("the idle session to be ended", async () => {
      return (await db.backends(APP)).length === 0;
    });
    const inTx = client(options);
    await assert.rejects(
      inTx.begin(async (tx) => {
        await tx`select 1`;
        await new Promise((resolve) => setTimeout(resolve, 500));
        await tx`select 1`;
      }),
      // The server's error, or the close when postgres.js sees it first.
      (error: { code?: string }) => error.code === "25P03" || error.code === "CONNECTION_CLOSED",
    );
  });

  it("refuses connections beyond a role's CONNECTION LIMIT with SQLSTATE 53300", async () => {
    const options = await control.createRole("x_pool_limited", { connectionLimit: 1 });
    const first = client(options);
    await pidOf(first);
    await assert.rejects(client(options)`select 1`, code("53300"));
    await control.setConnectionLimit("x_pool_limited", 2);
    await pidOf(client(options));
  });
});
