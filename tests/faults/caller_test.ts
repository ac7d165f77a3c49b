/**
 * Faults made by callers against a real PostgreSQL: bursts, timeouts and
 * aborts, errors inside transactions, connections released twice or never,
 * and close() or lifetime expiry under load. Every test ends with no leak:
 * the pool's open connections are exactly its backends, none idle in a
 * transaction.
 */

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AcquireTimeoutError,
  ConnectionLeakError,
  ConnectionPool,
  ConnectionReleasedError,
  PoolClosedError,
  type PoolOptions,
  postgresDriver,
  TransactionRolledBackError,
} from "../../mod.ts";
import {
  type Admin,
  admin,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
let pools: ConnectionPool[] = [];
let count = 0;

/** A pool with its own application_name. */
function openPool(
  options: Omit<PoolOptions, "driver"> = {},
): { pool: ConnectionPool; app: string; errors: [unknown, string][] } {
  const app = `x-pool-faults-caller-${++count}`;
  const errors: [unknown, string][] = [];
  const pool = new ConnectionPool({
    driver: postgresDriver({ ...server.options, connection: { application_name: app } }),
    maxOpenConns: 4,
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  pools.push(pool);
  return { pool, app, errors };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const itemCount = async () =>
  (await db.query<{ n: number }>("select count(*)::int as n from faults_items"))[0].n;

describe("caller faults", () => {
  before(async () => {
    await db.query("drop table if exists faults_items");
    await db.query("create table faults_items (id int primary key)");
  });

  afterEach(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    pools = [];
    await db.query("truncate faults_items");
  });

  after(async () => {
    await db.query("drop table if exists faults_items");
    await db.close();
    await server.stop();
  });

  it("serves 200 concurrent callers on an empty pool within maxOpenConns and maxConnecting", async () => {
    const { pool, app } = openPool({ maxOpenConns: 10, maxConnecting: 3 });
    let most = { open: 0, connecting: 0, backends: 0 };
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; i < 500 && sampling; i++) {
        const { openConnections, connecting } = pool.getMetrics();
        most = {
          open: Math.max(most.open, openConnections),
          connecting: Math.max(most.connecting, connecting),
          backends: Math.max(most.backends, (await db.backends(app)).length),
        };
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.execute("select $1::int as n", [i])),
    );
    sampling = false;
    await sampler;
    assert.deepEqual(results.map((result) => result.rows[0].n), [...Array(200).keys()]);
    assert.ok(most.open <= 10, `${most.open} open`);
    assert.ok(most.connecting <= 3, `${most.connecting} connecting`);
    assert.ok(most.backends <= 10, `${most.backends} backends`);
    assert.ok(pool.getMetrics().connectionsCreated <= 10);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("gives a connection released after a waiter timed out to the idle set, not to that waiter", async () => {
    const { pool, app } = openPool({ maxOpenConns: 1 });
    const holder = await pool.getConnection();
    await assert.rejects(
      pool.getConnection({ timeout: 100 }),
      (error: unknown) => error instanceof AcquireTimeoutError,
    );
    holder.release();
    const metrics = pool.getMetrics();
    assert.deepEqual([metrics.idle, metrics.inUse, metrics.waiting], [1, 0, 0]);
    assert.equal(metrics.acquireTimeouts, 1);
    const conn = await pool.getConnection({ timeout: 100 });
    await conn.execute("select 1");
    conn.release();
    assert.equal(pool.getMetrics().connectionsCreated, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("rejects with the signal's reason when it aborted before the call, opening nothing", async () => {
    const { pool, app } = openPool();
    const controller = new AbortController();
    const reason = new Error("gone already");
    controller.abort(reason);
    await assert.rejects(
      pool.getConnection({ signal: controller.signal }),
      (error) => error === reason,
    );
    await assert.rejects(
      pool.execute("select 1", [], { signal: controller.signal }),
      (error) => error === reason,
    );
    assert.equal(pool.getMetrics().connectionsCreated, 0);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("ends a wait whose signal aborts, and the next release goes to the idle set", async () => {
    const { pool, app } = openPool({ maxOpenConns: 1 });
    const holder = await pool.getConnection();
    const controller = new AbortController();
    const waiting = pool.getConnection({ signal: controller.signal });
    await sleep(20);
    assert.equal(pool.getMetrics().waiting, 1);
    const reason = new Error("changed my mind");
    controller.abort(reason);
    await assert.rejects(waiting, (error) => error === reason);
    assert.equal(pool.getMetrics().waiting, 0);
    holder.release();
    assert.equal(pool.getMetrics().idle, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("cancels a statement whose signal aborts mid-query and keeps the connection", async () => {
    const { pool, app } = openPool({ maxOpenConns: 1 });
    const { rows: [{ pid }] } = await pool.execute<{ pid: number }>(
      "select pg_backend_pid() as pid",
    );
    await assert.rejects(
      pool.execute("select pg_sleep(5)", [], { signal: AbortSignal.timeout(100) }),
      (error: { name?: string }) => error.name === "TimeoutError",
    );
    const { rows } = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
    assert.equal(rows[0].pid, pid);
    assert.equal(pool.getMetrics().connectionsCreated, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("reports the original error of a failed statement from transaction(), not 25P02", async () => {
    const { pool, app } = openPool({ maxOpenConns: 1 });
    await assert.rejects(
      pool.transaction(async (tx) => {
        await tx.execute("insert into faults_items values (1)");
        await tx.execute("select 1 / 0");
        await tx.execute("insert into faults_items values (2)");
      }),
      (error: { code?: string }) => error.code === "22012",
    );
    assert.equal(await itemCount(), 0);
    assert.equal(pool.getMetrics().connectionsCreated, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("rethrows an Error, a non-Error value and an error after a failed query from transaction() and rolls back", async () => {
    const { pool, app } = openPool({ maxOpenConns: 1 });
    const thrown: unknown[] = [new Error("plain"), "a string", { code: "custom" }, undefined];
    for (const [i, value] of thrown.entries()) {
      await assert.rejects(
        pool.transaction(async (tx) => {
          await tx.execute("insert into faults_items values ($1)", [i]);
          throw value;
        }),
        (error) => error === value,
      );
    }
    const custom = new Error("after a failed query");
    await assert.rejects(
      pool.transaction(async (tx) => {
        await tx.execute("insert into faults_items values (10)");
        await tx.execute("select 1 / 0").catch(() => {});
        throw custom;
      }),
      (error) => error === custom,
    );
    // Swallowing the failure does not commit: the server rolled back.
    await assert.rejects(
      pool.transaction(async (tx) => {
        await tx.execute("insert into faults_items values (11)");
        await tx.execute("select 1 / 0").catch(() => {});
      }),
      (error) => error instanceof TransactionRolledBackError,
    );
    assert.equal(await itemCount(), 0);
    assert.equal(pool.getMetrics().connectionsCreated, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("ignores a second release and refuses use after release", async () => {
    const { pool, app } = openPool({ maxOpenConns: 2 });
    const conn = await pool.getConnection();
    await conn.execute("select 1");
    conn.release();
    conn.release();
    assert.deepEqual([pool.getMetrics().inUse, pool.getMetrics().idle], [0, 1]);
    await assert.rejects(
      conn.execute("select 1"),
      (error: unknown) => error instanceof ConnectionReleasedError,
    );
    // A second release must not free the connection someone else now holds.
    const other = await pool.getConnection();
    conn.release();
    assert.equal(pool.getMetrics().inUse, 1);
    other.release();
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("reports a connection never released as a leak and still closes within closeTimeout", async () => {
    const { pool, app, errors } = openPool({ leakDetectionThreshold: 100, closeTimeout: 300 });
    const forgotten = await pool.getConnection();
    await forgotten.execute("select 1");
    await waitFor("the leak to be reported", () => pool.getMetrics().leaksDetected === 1);
    const leaks = errors.filter(([, event]) => event === "leak");
    assert.equal(leaks.length, 1);
    assert.ok(leaks[0][0] instanceof ConnectionLeakError);
    const start = Date.now();
    await pool.close();
    const took = Date.now() - start;
    assert.ok(took >= 250, `close waited ${took} ms for the grace period of 300 ms`);
    // Still referenced here, so the pool waited for it; its release is now a no-op.
    forgotten.release();
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("fails waiters with PoolClosedError on close() under load and lets running statements finish", async () => {
    // No pipelining: the three must wait for a connection, not run behind the two.
    const { pool, app } = openPool({ maxOpenConns: 2, closeTimeout: 2_000, maxPipeline: 0 });
    const running = [1, 2].map((n) => pool.execute("select pg_sleep(0.2), $1::int as n", [n]));
    await waitFor("both to run", () => pool.getMetrics().inUse === 2);
    const waiters = [1, 2, 3].map(() => pool.execute("select 1"));
    await sleep(20);
    assert.equal(pool.getMetrics().waiting, 3);
    const closed = pool.close();
    for (const waiter of waiters) {
      await assert.rejects(waiter, (error: unknown) => error instanceof PoolClosedError);
    }
    assert.deepEqual((await Promise.all(running)).map((result) => result.rows[0].n), [1, 2]);
    await closed;
    await assert.rejects(
      pool.execute("select 1"),
      (error: unknown) => error instanceof PoolClosedError,
    );
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("retires and replaces connections at their lifetime under steady load without caller errors", async () => {
    const { pool, app } = openPool({ maxOpenConns: 3, connMaxLifetime: 150 });
    let ok = 0;
    let failed = 0;
    const deadline = Date.now() + 700;
    await Promise.all([1, 2, 3, 4].map(async () => {
      for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
        await pool.execute("select pg_sleep(0.005)").then(() => ok++, () => failed++);
      }
    }));
    assert.equal(failed, 0);
    assert.ok(ok > 20, `${ok} statements`);
    const { maxLifetimeClosed, connectionsCreated } = pool.getMetrics();
    assert.ok(maxLifetimeClosed >= 3, `${maxLifetimeClosed} retired by lifetime`);
    assert.ok(connectionsCreated > 3, `${connectionsCreated} created`);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });
});
