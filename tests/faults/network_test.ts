/**
 * Network faults between the pool and a real PostgreSQL: nothing listening,
 * a server that never answers, delays, partitions and resets on idle and busy
 * connections, through the fault proxy of tests/_fault_proxy.ts. Every test
 * ends with no leak: the pool's open connections are exactly its backends.
 */

import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AcquireTimeoutError,
  ConnectionPool,
  ConnectTimeoutError,
  type PoolOptions,
  postgresDriver,
  QueryTimeoutError,
} from "../../mod.ts";
import {
  type Admin,
  admin,
  freePort,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault_proxy.ts";
import { assertNoLeaks } from "../support/leak_check.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
let proxy: FaultProxy;
let pools: ConnectionPool[] = [];
let count = 0;

/** A pool through the proxy (or to `port`), with its own application_name. */
function openPool(
  options: Omit<PoolOptions, "driver"> = {},
  port = proxy.port,
): { pool: ConnectionPool; app: string; errors: [unknown, string][] } {
  const app = `x-pool-faults-net-${++count}`;
  const errors: [unknown, string][] = [];
  const pool = new ConnectionPool({
    driver: postgresDriver({
      ...server.options,
      port,
      // The backend notices a lost client within 100 ms, even inside pg_sleep().
      connection: { application_name: app, client_connection_check_interval: "100ms" },
    }),
    maxOpenConns: 4,
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  pools.push(pool);
  return { pool, app, errors };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("network faults", () => {
  beforeEach(async () => {
    proxy = await startFaultProxy(server.options);
  });

  afterEach(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    pools = [];
    await proxy.close();
  });

  after(async () => {
    await db.close();
    await server.stop();
  });

  it("times out an acquire with ECONNREFUSED as cause when nothing listens, leaving no socket", async () => {
    const { pool, app } = openPool(
      { acquireTimeout: 400, connectTimeout: 1_000 },
      await freePort(),
    );
    await assert.rejects(pool.getConnection(), (error: unknown) => {
      assert.ok(error instanceof AcquireTimeoutError, String(error));
      assert.equal((error.cause as { code?: string } | undefined)?.code, "ECONNREFUSED");
      return true;
    });
    const metrics = pool.getMetrics();
    assert.ok(metrics.connectErrors >= 1);
    assert.equal(metrics.connectionsCreated, 0);
    assert.equal(metrics.acquireTimeouts, 1);
    await waitFor("no connect in flight", () => pool.getMetrics().connecting === 0, 2_000);
    assert.equal(pool.getMetrics().openConnections, 0);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("retries connects to a server that never answers and times out with ConnectTimeoutError as cause", async () => {
    proxy.set({ mode: "blackhole" });
    const { pool, app, errors } = openPool({
      acquireTimeout: 800,
      connectTimeout: 150,
      maxConnecting: 1,
    });
    await assert.rejects(pool.getConnection(), (error: unknown) => {
      assert.ok(error instanceof AcquireTimeoutError, String(error));
      assert.ok(error.cause instanceof ConnectTimeoutError, String(error.cause));
      return true;
    });
    const { connectErrors, connectionsCreated } = pool.getMetrics();
    assert.ok(connectErrors >= 2, `${connectErrors} connect errors: retried`);
    assert.ok(connectErrors <= 6, `${connectErrors} connect errors: backed off`);
    assert.equal(connectionsCreated, 0);
    assert.ok(errors.every(([, event]) => event === "connect"));
    assert.ok(proxy.accepted >= 2);
    await waitFor("no connect in flight", () => pool.getMetrics().connecting === 0, 2_000);
    proxy.set({ mode: "pass" });
    await proxy.drained();
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("serves statements through a delay on idle and on busy connections without reconnecting", async () => {
    const { pool, app } = openPool({ maxOpenConns: 2 });
    const held = [await pool.getConnection(), await pool.getConnection()];
    for (const conn of held) conn.release();
    proxy.set({ mode: "pass", delay: { up: 50, down: 50 } });
    const start = Date.now();
    assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
    assert.ok(Date.now() - start >= 95, `took ${Date.now() - start} ms`);
    proxy.set({ mode: "pass" });
    const busy = pool.execute("select pg_sleep(0.2), 2 as n");
    await sleep(50);
    proxy.set({ mode: "pass", delay: { up: 100, down: 100 } });
    assert.equal((await busy).rows[0].n, 2);
    proxy.set({ mode: "pass" });
    assert.equal(pool.getMetrics().connectionsCreated, 2);
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("bounds a blackholed statement with QueryTimeoutError and closes the connection when the cancel cannot complete", async () => {
    const { pool, app } = openPool({ maxOpenConns: 2, checkTimeout: 200 });
    const conn = await pool.getConnection();
    await conn.execute("select 1");
    // New pairs are blackholed too, so the cancel request never arrives.
    proxy.set({ mode: "blackhole" });
    await assert.rejects(
      conn.execute("select 1", [], { timeout: 150 }),
      (error: unknown) => error instanceof QueryTimeoutError,
    );
    conn.release();
    await waitFor(
      "the connection to be closed",
      () => pool.getMetrics().openConnections === 0,
      3_000,
    );
    proxy.set({ mode: "pass" });
    assert.deepEqual((await pool.execute("select 3 as n")).rows, [{ n: 3 }]);
    assert.equal(pool.getMetrics().connectionsCreated, 2);
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("replaces a blackholed idle connection on hand-out once it was idle past validateAfterIdle", async () => {
    const { pool, app, errors } = openPool({ validateAfterIdle: 50, checkTimeout: 200 });
    await pool.execute("select 1");
    // Only the live pair: the replacement must get through.
    for (const pair of proxy.pairs) pair.set({ mode: "blackhole" });
    await sleep(100);
    assert.deepEqual((await pool.execute("select 4 as n")).rows, [{ n: 4 }]);
    // A slow ping is doubted and a new connection may serve the caller before
    // the ping fails at checkTimeout.
    await waitFor("the ping to fail", () => pool.getMetrics().validationsFailed === 1, 3_000);
    const metrics = pool.getMetrics();
    assert.equal(metrics.connectionsCreated, 2);
    assert.ok(errors.some(([, event]) => event === "validation"));
    for (const pair of proxy.pairs) pair.set({ mode: "pass" });
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("drops idle connections reset by the network and serves the next caller on a new one", async () => {
    const { pool, app, errors } = openPool({ maxOpenConns: 2 });
    const held = [await pool.getConnection(), await pool.getConnection()];
    for (const conn of held) conn.release();
    proxy.set({ mode: "reset" });
    await waitFor("the pool to drop both", () => pool.getMetrics().openConnections === 0);
    assert.equal(pool.getMetrics().connectionsLost, 2);
    assert.ok(errors.some(([, event]) => event === "connectionLost"));
    proxy.set({ mode: "pass" });
    assert.deepEqual((await pool.execute("select 5 as n")).rows, [{ n: 5 }]);
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("fails only the statements on connections reset while busy and retires those connections", async () => {
    const { pool, app } = openPool({ maxOpenConns: 2 });
    const victim = await pool.getConnection();
    await victim.execute("select 1");
    const query = victim.execute("select pg_sleep(5)");
    await waitFor("the statement to run", async () => {
      const rows = await db.query(
        "select 1 from pg_stat_activity where application_name = $1 and state = 'active'",
        [app],
      );
      return rows.length === 1;
    });
    for (const pair of proxy.pairs) pair.set({ mode: "reset" });
    await assert.rejects(query);
    victim.release();
    assert.deepEqual((await pool.execute("select 6 as n")).rows, [{ n: 6 }]);
    assert.equal(pool.getMetrics().connectionsLost, 1);
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });

  it("ends a wait whose signal aborts during a slow connect; the connection then joins the idle set", async () => {
    proxy.set({ mode: "pass", delay: { up: 50, down: 50 } });
    const { pool, app } = openPool();
    const signal = AbortSignal.timeout(60);
    await assert.rejects(
      pool.getConnection({ signal }),
      (error: { name?: string }) => error.name === "TimeoutError",
    );
    assert.equal(pool.getMetrics().waiting, 0);
    await waitFor("the connect to finish", () => pool.getMetrics().idle === 1, 3_000);
    assert.equal(pool.getMetrics().inUse, 0);
    proxy.set({ mode: "pass" });
    await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
  });
});
