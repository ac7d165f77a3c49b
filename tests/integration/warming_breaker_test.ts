/**
 * Warming (`minIdleConns`), `pool.ready()` and the circuit breaker against a
 * real PostgreSQL: connections counted on the server by application_name, a
 * port nobody listens on, a wrong password, and the fault proxy refusing
 * then allowing connects. Every test that opens connections ends with the
 * leak check.
 */

import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CircuitOpenError,
  ConnectionPool,
  PoolNotReadyError,
  type PoolOptions,
  postgresDriver,
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
let pools: ConnectionPool[] = [];
let proxies: FaultProxy[] = [];
let count = 0;

/** Far beyond what any of these tests takes: a rejection before it is not a timeout. */
const LONG = 60_000;
const SLOW = { timeout: 30_000 };

/** A pool with its own application_name, to `overrides` (port, password) or the server. */
function openPool(
  options: Omit<PoolOptions, "driver"> = {},
  overrides: { port?: number; password?: string } = {},
): { pool: ConnectionPool; app: string; errors: [unknown, string][] } {
  const app = `x-pool-warm-${++count}`;
  const errors: [unknown, string][] = [];
  const pool = new ConnectionPool({
    driver: postgresDriver({
      ...server.options,
      ...overrides,
      connection: { application_name: app },
    }),
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  pools.push(pool);
  return { pool, app, errors };
}

/** Asserts a PoolNotReadyError whose cause carries `code`. */
function notReadyWith(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof PoolNotReadyError, String(error));
    assert.equal((error.cause as { code?: string } | undefined)?.code, code, String(error.cause));
    return true;
  };
}

describe("warming, ready() and the circuit breaker on PostgreSQL", () => {
  afterEach(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    pools = [];
    await Promise.all(proxies.map((proxy) => proxy.close()));
    proxies = [];
  });

  after(async () => {
    await db.close();
    await server.stop();
  });

  it("resolves ready() with minIdleConns connections open on the server", SLOW, async () => {
    const { pool, app } = openPool({ minIdleConns: 3, maxConnecting: 2, acquireTimeout: LONG });
    await pool.ready();
    assert.equal((await db.backends(app)).length, 3);
    const m = pool.getMetrics();
    assert.equal(m.idle, 3);
    assert.equal(m.acquireCount, 0);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("opens the minimum again after the server ends the pool's sessions", SLOW, async () => {
    const { pool, app } = openPool({ minIdleConns: 2, acquireTimeout: LONG });
    await pool.ready();
    const before = await db.backends(app);
    assert.equal(before.length, 2);
    assert.equal(await db.terminate(app), 2);
    await waitFor("two new sessions", async () => {
      const now = await db.backends(app);
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    }, 10_000);
    await waitFor("the pool to see them idle", () => pool.getMetrics().idle === 2);
    assert.ok(pool.getMetrics().connectionsLost >= 2);
    await assertNoLeaks(pool, { admin: db, applicationName: app });
  });

  it("rejects ready() with ECONNREFUSED as cause when nothing listens", SLOW, async () => {
    const { pool } = openPool({ acquireTimeout: LONG }, { port: await freePort() });
    await assert.rejects(pool.ready({ timeout: LONG }), notReadyWith("ECONNREFUSED"));
    assert.equal(pool.getMetrics().circuitState, "open");
    assert.equal(pool.getMetrics().connectionsCreated, 0);
  });

  it("rejects ready() with the server's 28P01 as cause on a wrong password", SLOW, async () => {
    const { pool, app } = openPool({ minIdleConns: 2 }, { password: "wrong" });
    await assert.rejects(pool.ready({ timeout: LONG }), notReadyWith("28P01"));
    assert.equal(pool.getMetrics().connectionsCreated, 0);
    assert.equal((await db.backends(app)).length, 0);
  });

  it(
    "opens the breaker against refused connects, refuses execute at once, and closes once the server is reachable",
    SLOW,
    async () => {
      const proxy = await startFaultProxy(server.options);
      proxies.push(proxy);
      await proxy.refuse(true);
      const { pool, app, errors } = openPool(
        { breakerThreshold: 2, acquireTimeout: LONG },
        { port: proxy.port },
      );
      // The first caller waits while the connects fail, and gets the breaker's error when it opens.
      await assert.rejects(pool.execute("select 1"), (error: unknown) => {
        assert.ok(error instanceof CircuitOpenError, String(error));
        assert.equal(error.code, "CIRCUIT_OPEN");
        assert.equal((error.cause as { code?: string }).code, "ECONNREFUSED");
        return true;
      });
      await assert.rejects(pool.execute("select 1"), CircuitOpenError);
      assert.notEqual(pool.getMetrics().circuitState, "closed");
      assert.equal(pool.getMetrics().circuitOpens, 1);
      assert.ok(pool.getMetrics().circuitRejections >= 2);

      await proxy.refuse(false);
      await waitFor(
        "the breaker to close",
        () => pool.getMetrics().circuitState === "closed",
        10_000,
      );
      assert.deepEqual((await pool.execute("select 1 as n")).rows, [{ n: 1 }]);
      const events = errors.filter(([, event]) => event === "circuit")
        .map(([error]) => (error as CircuitOpenError).state);
      assert.equal(events[0], "open");
      assert.equal(events.at(-1), "closed");
      await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
    },
  );
});
