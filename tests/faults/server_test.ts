/**
 * Faults made by the server: refused logins, role connection limits,
 * terminated and killed backends, a restart under load, and the server's own
 * timeouts and transaction failures. Every test ends with no leak: the pool's
 * open connections are exactly its backends, none idle in a transaction.
 */

import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AcquireTimeoutError,
  ConnectionPool,
  type PoolOptions,
  postgresDriver,
  type PostgresDriverOptions,
} from "../../mod.ts";
import {
  type Admin,
  admin,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { serverControl } from "../support/server_control.ts";
import { assertNoLeaks } from "../support/leak_check.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
let db: Admin = admin(server.url);
let control = serverControl(server, db);
const skip = control.processUnavailable;
let pools: ConnectionPool[] = [];
let count = 0;

/** A pool with its own application_name; `driver` overrides the connection options. */
function openPool(
  options: Omit<PoolOptions, "driver"> = {},
  driver: PostgresDriverOptions = {},
): { pool: ConnectionPool; app: string; errors: [unknown, string][] } {
  const app = `x-pool-faults-server-${++count}`;
  const errors: [unknown, string][] = [];
  const pool = new ConnectionPool({
    driver: postgresDriver({
      ...server.options,
      ...driver,
      connection: { application_name: app, ...driver.connection },
    }),
    maxOpenConns: 4,
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  pools.push(pool);
  return { pool, app, errors };
}

const code = (expected: string) => (error: { code?: string }) => error.code === expected;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `n` statements of `app` run on the server. */
const running = (app: string, n: number) =>
  waitFor(`${n} statements to run`, async () => {
    const rows = await db.query(
      "select 1 from pg_stat_activity where application_name = $1 and state = 'active'",
      [app],
    );
    return rows.length === n;
  });

describe("server faults", () => {
  afterEach(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    pools = [];
    await control.close();
  });

  after(async () => {
    await db.close();
    await server.stop();
  });

  it("fails every waiting caller at once on a wrong password, without a retry loop", async () => {
    const { pool, app } = openPool({ acquireTimeout: 3_000 }, { password: "wrong" });
    // The server's error, not AcquireTimeoutError: nobody waited for the timeout.
    const calls = [1, 2, 3].map(() => assert.rejects(pool.execute("select 1"), code("28P01")));
    await Promise.all(calls);
    await sleep(300);
    const { connectErrors, acquireTimeouts } = pool.getMetrics();
    assert.ok(connectErrors >= 1 && connectErrors <= 3, `${connectErrors} connect errors`);
    assert.equal(acquireTimeouts, 0);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("fails every waiting caller at once on an unknown database, without a retry loop", async () => {
    const { pool, app } = openPool({ acquireTimeout: 3_000 }, { database: "x_pool_no_such_db" });
    // The server's error, not AcquireTimeoutError: nobody waited for the timeout.
    const calls = [1, 2, 3].map(() => assert.rejects(pool.execute("select 1"), code("3D000")));
    await Promise.all(calls);
    await sleep(300);
    const { connectErrors } = pool.getMetrics();
    assert.ok(connectErrors >= 1 && connectErrors <= 3, `${connectErrors} connect errors`);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("retries 53300 at a role's CONNECTION LIMIT and serves every caller within it", async () => {
    const role = await control.createRole("x_pool_faults_limited", { connectionLimit: 2 });
    const { pool, app } = openPool({ maxOpenConns: 5, acquireTimeout: 3_000 }, role);
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; i < 200 && sampling; i++) {
        most = Math.max(most, (await db.backends(app)).length);
        await sleep(10);
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => pool.execute("select pg_sleep(0.1), $1::int as n", [i])),
    );
    sampling = false;
    await sampler;
    assert.deepEqual(results.map((result) => result.rows[0].n), [0, 1, 2, 3, 4, 5]);
    assert.ok(most <= 2, `${most} backends at once`);
    const { connectErrors, connectionsCreated } = pool.getMetrics();
    assert.ok(connectErrors >= 1, "the limit was hit");
    assert.equal(connectionsCreated, 2);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("times out a caller beyond a role's CONNECTION LIMIT with 53300 as cause", async () => {
    const role = await control.createRole("x_pool_faults_full", { connectionLimit: 1 });
    const { pool, app } = openPool({ maxOpenConns: 3, acquireTimeout: 400 }, role);
    const holder = await pool.getConnection();
    await assert.rejects(pool.getConnection(), (error: unknown) => {
      assert.ok(error instanceof AcquireTimeoutError, String(error));
      assert.equal((error.cause as { code?: string }).code, "53300");
      return true;
    });
    holder.release();
    assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
    assert.ok((await db.backends(app)).length <= 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("notices idle backends terminated by the server and replaces them without an error to callers", async () => {
    const { pool, app, errors } = openPool({ maxOpenConns: 3 });
    const held = await Promise.all([1, 2, 3].map(() => pool.getConnection()));
    for (const conn of held) conn.release();
    assert.equal(await db.terminate(app), 3);
    await waitFor("the pool to drop them", () => pool.getMetrics().openConnections === 0);
    assert.equal(pool.getMetrics().connectionsLost, 3);
    assert.ok(errors.every(([, event]) => event === "connectionLost"));
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => pool.execute("select 1 as n")));
    assert.equal(results.length, 5);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("fails only the statement whose backend is terminated mid-query and retires its connection", async () => {
    const { pool, app } = openPool({ maxOpenConns: 3 });
    const victim = await pool.getConnection();
    const { rows: [{ pid }] } = await victim.execute<{ pid: number }>(
      "select pg_backend_pid() as pid",
    );
    // Watched from the start: it may fail while the test still awaits the terminate.
    const doomed = assert.rejects(
      victim.execute("select pg_sleep(5)"),
      // The server's FATAL, or the close when postgres.js sees it first.
      (error: { code?: string }) => error.code === "57P01" || error.code === "CONNECTION_CLOSED",
    );
    const others = [1, 2].map((n) => pool.execute("select pg_sleep(0.3), $1::int as n", [n]));
    await running(app, 3);
    assert.equal(await control.terminate(pid), true);
    await doomed;
    victim.release();
    assert.deepEqual((await Promise.all(others)).map((result) => result.rows[0].n), [1, 2]);
    assert.equal(pool.getMetrics().connectionsLost, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("fails the rest of a transaction whose backend is terminated between statements, on no other backend", async () => {
    const { pool, app } = openPool({ maxOpenConns: 2 });
    const outcomes: unknown[] = [];
    let first: { pid: number; txid: string } | undefined;
    await assert.rejects(
      pool.transaction(async (tx) => {
        first = (await tx.execute<{ pid: number; txid: string }>(
          "select pg_backend_pid() as pid, txid_current()::text as txid",
        )).rows[0];
        await control.terminate(first.pid);
        await waitFor("the backend to leave", async () => {
          const rows = await db.query("select 1 from pg_stat_activity where pid = $1", [
            first!.pid,
          ]);
          return rows.length === 0;
        });
        for (let i = 0; i < 2; i++) {
          outcomes.push(
            await tx.execute("select pg_backend_pid() as pid, txid_current()::text as txid").then(
              (result) => result.rows[0],
              (error) => error,
            ),
          );
        }
        throw outcomes[0];
      }),
    );
    assert.ok(first);
    for (const outcome of outcomes) assert.ok(outcome instanceof Error, JSON.stringify(outcome));
    const { rows } = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
    assert.notEqual(rows[0].pid, first.pid);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("recovers fully after a fast restart under load", { skip, timeout: 20_000 }, async () => {
    // Without the breaker: the workers ride the restart out by waiting, not failing at once.
    const { pool, app } = openPool({ maxOpenConns: 4, acquireTimeout: 3_000, breakerThreshold: 0 });
    let ok = 0;
    let failed = 0;
    let stop = false;
    const deadline = Date.now() + 10_000;
    const workers = [1, 2, 3, 4].map(async () => {
      for (let i = 0; i < 2_000 && !stop && Date.now() < deadline; i++) {
        await pool.execute("select pg_sleep(0.005)").then(() => ok++, () => failed++);
      }
    });
    await waitFor("some load", () => ok >= 20);
    await control.stop();
    await sleep(100);
    await control.start();
    const afterRestart = ok;
    await waitFor("statements to succeed again", () => ok >= afterRestart + 20, 8_000);
    stop = true;
    await Promise.all(workers);
    assert.ok(failed >= 1, "some statements failed during the restart");
    for (let i = 0; i < 10; i++) await pool.execute("select 1");
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("recovers after a backend is killed and the server ends every session", {
    skip,
    timeout: 20_000,
  }, async () => {
    // Without the breaker: the next statement waits out the crash recovery.
    const { pool, app } = openPool({ maxOpenConns: 3, acquireTimeout: 8_000, breakerThreshold: 0 });
    const idle = await pool.getConnection();
    idle.release();
    const victim = await pool.getConnection();
    const { rows: [{ pid }] } = await victim.execute<{ pid: number }>(
      "select pg_backend_pid() as pid",
    );
    const busy = [victim.execute("select pg_sleep(5)"), pool.execute("select pg_sleep(5)")];
    await running(app, 2);
    control.signal(pid, "SIGKILL");
    await Promise.all(busy.map((query) => assert.rejects(query)));
    victim.release();
    assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
    // The admin session died too, and under Bun postgres.js's own reconnect of
    // it can hang for good: start a new one (the pool's driver never reconnects).
    const dead = db;
    db = admin(server.url);
    control = serverControl(server, db);
    dead.close().catch(() => {});
    await waitFor("the pool to drop its dead connections", () => pool.getMetrics().idle <= 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("passes statement_timeout's 57014 to the caller and keeps the connection", async () => {
    const { pool, app } = openPool({}, { connection: { statement_timeout: "100ms" } });
    const { rows: [{ pid }] } = await pool.execute<{ pid: number }>(
      "select pg_backend_pid() as pid",
    );
    await assert.rejects(pool.execute("select pg_sleep(1)"), code("57014"));
    const { rows } = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
    assert.equal(rows[0].pid, pid);
    assert.equal(pool.getMetrics().connectionsCreated, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("fails the holder's next statement when idle_in_transaction_session_timeout fires and retires the connection", async () => {
    const { pool, app } = openPool({}, {
      connection: { idle_in_transaction_session_timeout: "150ms" },
    });
    const tx = await pool.beginTx();
    await tx.execute("select 1");
    await sleep(400);
    await assert.rejects(
      tx.execute("select 1"),
      (error: { code?: string }) => error.code === "25P03" || error.code === "CONNECTION_CLOSED",
    );
    await tx.rollback().catch(() => {});
    await waitFor("the connection to be retired", () => pool.getMetrics().openConnections === 0);
    assert.equal(pool.getMetrics().connectionsLost, 1);
    assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("passes a serialization failure (40001) through and keeps both connections usable", async () => {
    await db.query("create table if not exists faults_skew (n int)");
    await db.query("truncate faults_skew");
    const { pool, app } = openPool();
    const [a, b] = [
      await pool.beginTx({ isolationLevel: "serializable" }),
      await pool.beginTx({ isolationLevel: "serializable" }),
    ];
    await a.execute("select count(*) from faults_skew");
    await b.execute("select count(*) from faults_skew");
    await a.execute("insert into faults_skew values (1)");
    await b.execute("insert into faults_skew values (2)");
    await a.commit();
    await assert.rejects(b.commit(), code("40001"));
    await Promise.all([1, 2].map(() => pool.execute("select 1")));
    assert.equal(pool.getMetrics().connectionsCreated, 2);
    await db.query("drop table faults_skew");
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("passes a deadlock (40P01) through and keeps both connections usable", async () => {
    await db.query("create table if not exists faults_locks (id int primary key, n int)");
    await db.query("truncate faults_locks");
    await db.query("insert into faults_locks values (1, 0), (2, 0)");
    const { pool, app } = openPool({}, { connection: { deadlock_timeout: "50ms" } });
    const [a, b] = [await pool.beginTx(), await pool.beginTx()];
    await a.execute("update faults_locks set n = 1 where id = 1");
    await b.execute("update faults_locks set n = 1 where id = 2");
    const outcomes = await Promise.allSettled([
      a.execute("update faults_locks set n = 2 where id = 2"),
      b.execute("update faults_locks set n = 2 where id = 1"),
    ]);
    const failed = outcomes.filter((outcome) => outcome.status === "rejected");
    assert.equal(failed.length, 1);
    assert.equal((failed[0] as PromiseRejectedResult).reason.code, "40P01");
    await Promise.all([a, b].map((tx) => tx.rollback()));
    await Promise.all([1, 2].map(() => pool.execute("select 1")));
    assert.equal(pool.getMetrics().connectionsCreated, 2);
    await db.query("drop table faults_locks");
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });
});
