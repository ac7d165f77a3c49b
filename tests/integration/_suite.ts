/**
 * The pool against a real PostgreSQL, as one suite run over every target of
 * the integration matrix (`_integration_targets.ts`): each driver, straight
 * to the server or through a pooler. After every test, the pool's open
 * connections are exactly its sessions at the endpoint, none is in use, and
 * no backend of it is left inside a transaction.
 *
 * @module
 */

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AcquireTimeoutError,
  ConnectionPool,
  type PoolOptions,
  QueryTimeoutError,
  TransactionFinishedError,
  TransactionRolledBackError,
} from "../../mod.ts";
import type { IntegrationTarget } from "./_targets.ts";
import { type Admin, admin, freePort, waitFor } from "../support/postgres.ts";

const TEST = { timeout: 30_000 };

/**
 * Defines the suite for `target`. The caller starts the server (at the top
 * level of its test file: Bun gives hooks 5 s) and stops it afterwards.
 */
export function integrationSuite(target: IntegrationTarget): void {
  const title = target.skip === undefined
    ? `ConnectionPool on PostgreSQL via ${target.name}`
    : `ConnectionPool on PostgreSQL via ${target.name} (skipped: ${target.skip})`;
  describe(title, () => {
    let db!: Admin;
    /** The pool the running test made; checked and closed after it. */
    let pool: ConnectionPool | undefined;
    let poolName = "";
    let poolCount = 0;

    /** Defines one test, skipped with the reason when it cannot hold for this target. */
    function test(name: string, fn: () => Promise<void>): void {
      const skip = target.skip ?? target.notApplicable?.[name];
      if (skip !== undefined) it(name, { skip }, fn);
      else it(name, TEST, fn);
    }

    function openPool(options: Omit<PoolOptions, "driver"> = {}): ConnectionPool {
      poolName = `x-pool-test-${target.name.replace(/\W+/g, "-")}-${++poolCount}`;
      pool = new ConnectionPool({ driver: target.driver(poolName), maxOpenConns: 4, ...options });
      return pool;
    }

    async function readOnly(): Promise<string> {
      const rows = await db.query<{ default_transaction_read_only: string }>(
        "show default_transaction_read_only",
      );
      return rows[0].default_transaction_read_only;
    }

    /** The states of the server's backends that carry the pool's name. */
    async function backendStates(): Promise<string[]> {
      const rows = await db.query<{ state: string }>(
        "select state from pg_stat_activity where application_name = $1",
        [poolName],
      );
      return rows.map((row) => row.state);
    }

    /** The pool's connections as the endpoint its driver talks to counts them. */
    async function sessions(): Promise<number> {
      return target.sessions ? await target.sessions(db, poolName) : (await backendStates()).length;
    }

    before(async () => {
      if (target.skip !== undefined) return;
      db = admin(target.server.url);
      await db.query("drop table if exists pool_items");
      await db.query("create table pool_items (id int primary key, name text not null)");
    });

    afterEach(async () => {
      if (pool === undefined) return;
      const current = pool;
      pool = undefined;
      try {
        // Connections lost or retired close asynchronously; give them a moment to leave the server.
        await waitFor("the pool's backends to match its open connections", async () => {
          const { openConnections, inUse } = current.getMetrics();
          return inUse === 0 && (await sessions()) === openConnections;
        });
        assert.ok(
          !(await backendStates()).includes("idle in transaction"),
          "no backend of the pool is left inside a transaction",
        );
      } finally {
        await current.close();
      }
      await waitFor("the closed pool's backends to leave", async () => {
        return (await sessions()) === 0;
      });
      await db.query("truncate pool_items");
    });

    after(async () => {
      if (target.skip === undefined) await db.close();
    });

    test("runs a statement with parameters and returns rows, count and command", async () => {
      const pool = openPool();
      const result = await pool.execute("select $1::int as n, $2::text as s", [7, "seven"]);
      assert.deepEqual(result, { rows: [{ n: 7, s: "seven" }], rowCount: 1, command: "SELECT" });
      const insert = await pool.execute(
        "insert into pool_items (id, name) values ($1, $2), ($3, $4)",
        [1, "a", 2, "b"],
      );
      assert.equal(insert.rowCount, 2);
      assert.equal(insert.command, "INSERT");
    });

    test("passes a database error through with its SQLSTATE and keeps the connection", async () => {
      const pool = openPool({ maxOpenConns: 1 });
      await pool.execute("insert into pool_items (id, name) values (1, 'a')");
      await assert.rejects(
        pool.execute("insert into pool_items (id, name) values (1, 'again')"),
        (error: { code?: string }) => error.code === "23505",
      );
      const { rows } = await pool.execute("select count(*)::int as n from pool_items");
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.equal(pool.getMetrics().connectionsCreated, 1);
    });

    test("reuses one backend for sequential statements", async () => {
      const pool = openPool();
      const pids = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const { rows } = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
        pids.add(rows[0].pid);
      }
      assert.equal(pids.size, 1);
      assert.equal(pool.getMetrics().openConnections, 1);
    });

    test("commits a transaction that returns and rolls back one that throws", async () => {
      const pool = openPool();
      const id = await pool.transaction(async (tx) => {
        await tx.execute("insert into pool_items (id, name) values (1, 'kept')");
        return 1;
      });
      assert.equal(id, 1);
      const failure = new Error("changed my mind");
      await assert.rejects(
        pool.transaction(async (tx) => {
          await tx.execute("insert into pool_items (id, name) values (2, 'dropped')");
          throw failure;
        }),
        (error) => error === failure,
      );
      const { rows } = await pool.execute("select id from pool_items order by id");
      assert.deepEqual(rows, [{ id: 1 }]);
    });

    for (
      const level of [
        "read uncommitted",
        "read committed",
        "repeatable read",
        "serializable",
      ] as const
    ) {
      test(`applies the isolation level "${level}"`, async () => {
        const pool = openPool();
        const tx = await pool.beginTx({ isolationLevel: level });
        const { rows } = await tx.execute<{ transaction_isolation: string }>(
          "show transaction_isolation",
        );
        await tx.commit();
        assert.equal(rows[0].transaction_isolation, level);
      });
    }

    test("rejects writes in a read-only transaction with SQLSTATE 25006", async () => {
      const pool = openPool();
      const attempt = pool.transaction(async (tx) => {
        const { rows } = await tx.execute("show transaction_read_only");
        assert.deepEqual(rows, [{ transaction_read_only: "on" }]);
        await assert.rejects(
          tx.execute("insert into pool_items (id, name) values (1, 'no')"),
          (error: { code?: string }) => error.code === "25006",
        );
      }, { readOnly: true, isolationLevel: "serializable", deferrable: true });
      // The failed insert made the server roll back; commit() says so.
      await assert.rejects(attempt, TransactionRolledBackError);
      const { rows } = await pool.execute("select count(*)::int as n from pool_items");
      assert.deepEqual(rows, [{ n: 0 }]);
    });

    test("reports a commit that the server turned into a rollback", async () => {
      const pool = openPool();
      const tx = await pool.beginTx();
      await tx.execute("insert into pool_items (id, name) values (1, 'lost')");
      await assert.rejects(tx.execute("select 1/0"), (error: { code?: string }) => {
        return error.code === "22012";
      });
      await assert.rejects(tx.commit(), TransactionRolledBackError);
      assert.equal(tx.status, "rolled back");
      await assert.rejects(tx.rollback(), TransactionFinishedError);
      const { rows } = await pool.execute("select count(*)::int as n from pool_items");
      assert.deepEqual(rows, [{ n: 0 }]);
    });

    test("rolls back a connection released inside a transaction before lending it again", async () => {
      const pool = openPool({ maxOpenConns: 1 });
      const conn = await pool.getConnection();
      await conn.execute("begin");
      await conn.execute("insert into pool_items (id, name) values (1, 'uncommitted')");
      conn.release();
      const next = await pool.getConnection();
      try {
        // Inside the old transaction this connection would see its own uncommitted row.
        const { rows } = await next.execute("select count(*)::int as n from pool_items");
        assert.deepEqual(rows, [{ n: 0 }], "the next user starts outside the old transaction");
        const count = await db.query<{ n: number }>("select count(*)::int as n from pool_items");
        assert.deepEqual(count, [{ n: 0 }]);
      } finally {
        next.release();
      }
      assert.equal(
        pool.getMetrics().connectionsCreated,
        1,
        "the rolled-back connection was reused",
      );
    });

    test("notices an idle backend terminated by the server and replaces it", async () => {
      const errors: string[] = [];
      const pool = openPool({ onError: (_error, event) => errors.push(event) });
      const first = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
      assert.equal(await db.terminate(poolName), 1);
      await waitFor("the pool to drop the terminated connection", () => {
        return pool.getMetrics().openConnections === 0;
      });
      assert.equal(pool.getMetrics().connectionsLost, 1);
      assert.deepEqual(errors, ["connectionLost"]);
      const second = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
      assert.notEqual(second.rows[0].pid, first.rows[0].pid);
    });

    test("retires a connection whose backend was terminated while in use", async () => {
      const pool = openPool();
      const conn = await pool.getConnection();
      const { rows } = await conn.execute<{ pid: number }>("select pg_backend_pid() as pid");
      await db.query("select pg_terminate_backend($1)", [rows[0].pid]);
      await assert.rejects(conn.execute("select 1"));
      conn.release();
      assert.equal(pool.getMetrics().connectionsLost, 1);
      assert.equal(pool.getMetrics().openConnections, 0);
      const next = await pool.execute<{ pid: number }>("select pg_backend_pid() as pid");
      assert.notEqual(next.rows[0].pid, rows[0].pid);
    });

    test("cancels a running statement on the server when its signal aborts", async () => {
      const pool = openPool({ maxOpenConns: 1 });
      const controller = new AbortController();
      const running = pool.execute("select pg_sleep(30)", [], { signal: controller.signal });
      await waitFor("the statement to run", async () => {
        return (await backendStates()).includes("active");
      });
      const reason = new Error("stop");
      controller.abort(reason);
      await assert.rejects(running, (error) => error === reason);
      const { rows } = await pool.execute("select 1 as n");
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.equal(pool.getMetrics().connectionsCreated, 1, "the connection survived the cancel");
    });

    test("cancels a statement past its timeout on the server and keeps the connection", async () => {
      const pool = openPool({ maxOpenConns: 1 });
      await assert.rejects(
        pool.execute("select pg_sleep(30)", [], { timeout: 200 }),
        QueryTimeoutError,
      );
      await waitFor("the backend to stop running the statement", async () => {
        return !(await backendStates()).includes("active");
      });
      const { rows } = await pool.execute("select 1 as n");
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.equal(pool.getMetrics().connectionsCreated, 1, "the connection survived the cancel");
    });

    test("fails every waiting caller at once on a wrong password, without retrying", async () => {
      // No backend ever opens, so the after-test check has nothing to compare.
      const bad = new ConnectionPool({
        driver: target.driver(poolName, { password: "wrong" }),
        acquireTimeout: 30_000,
      });
      try {
        const results = await Promise.allSettled([bad.getConnection(), bad.getConnection()]);
        for (const result of results) {
          assert.equal(result.status, "rejected");
          assert.equal((result.reason as { code?: string }).code, "28P01");
        }
        assert.ok(bad.getMetrics().connectErrors <= 2, "one attempt per caller at most");
      } finally {
        await bad.close();
      }
    });

    test("keeps retrying a server that refuses connections and names the cause at the timeout", async () => {
      const port = await freePort();
      const down = new ConnectionPool({
        driver: target.driver(poolName, { port }),
        acquireTimeout: 500,
      });
      try {
        const error = await down.getConnection().then(
          () => assert.fail("connected to a port nobody listens on"),
          (error: unknown) => error,
        );
        assert.ok(error instanceof AcquireTimeoutError, String(error));
        assert.equal((error.cause as { code?: string }).code, "ECONNREFUSED");
        assert.ok(down.getMetrics().connectErrors >= 2, "it retried during the wait");
      } finally {
        await down.close();
      }
    });

    test("opens minIdleConns connections for ready(), counted at the endpoint, and refills after a loan", async () => {
      const pool = openPool({ minIdleConns: 3 });
      await pool.ready({ timeout: 20_000 });
      assert.equal(await sessions(), 3);
      await pool.execute("select 1");
      // The one lent was replaced: the check after each test matches them with the endpoint's.
      await waitFor("three idle again", () => pool.getMetrics().idle >= 3);
    });

    test("retires every connection when the server turns read-only, with resetOnReadOnly", async () => {
      const pool = openPool({ resetOnReadOnly: true });
      await Promise.all([pool.execute("select 1"), pool.execute("select pg_sleep(0.01)")]);
      const before = pool.getMetrics().connectionsCreated;
      await db.query("alter system set default_transaction_read_only = on");
      await db.query("select pg_reload_conf()");
      try {
        await waitFor("the server to turn read-only", async () => (await readOnly()) === "on");
        // The reload reaches each backend in its own time (through PgBouncer, any of them).
        await waitFor("a write refused as read-only", async () => {
          try {
            await pool.execute(
              "insert into pool_items (id, name) values (2, 'early') on conflict do nothing",
            );
            return false;
          } catch (error) {
            assert.equal((error as { code?: string }).code, "25006");
            return true;
          }
        });
        assert.equal(pool.getMetrics().poolResets, 1);
      } finally {
        await db.query("alter system reset default_transaction_read_only");
        await db.query("select pg_reload_conf()");
      }
      await waitFor("the server to take writes again", async () => (await readOnly()) === "off");
      await pool.execute("insert into pool_items (id, name) values (1, 'accepted')");
      assert.ok(pool.getMetrics().connectionsCreated > before, "new connections after the reset");
    });

    test("clears settings, temporary tables, listeners and advisory locks on release with resetSession", async () => {
      const pool = openPool({ maxOpenConns: 1, resetSession: true });
      const conn = await pool.getConnection();
      const { rows: [{ pid }] } = await conn.execute<{ pid: number }>(
        "select pg_backend_pid() as pid",
      );
      await conn.execute("set statement_timeout = 1234");
      await conn.execute("create temp table scratch (x int)");
      await conn.execute("select pg_advisory_lock(42)");
      await conn.execute("listen pool_channel");
      await conn.execute("select $1::int as n", [1]);
      conn.release();
      const next = await pool.getConnection();
      try {
        const same = await next.execute<{ pid: number }>("select pg_backend_pid() as pid");
        assert.equal(same.rows[0].pid, pid, "the same backend");
        const { rows } = await next.execute<Record<string, unknown>>(
          `select current_setting('statement_timeout') as timeout,
                  to_regclass('pg_temp.scratch') is null as no_temp,
                  (select count(*)::int from pg_locks where locktype = 'advisory' and pid = $1) as locks,
                  (select count(*)::int from pg_listening_channels()) as channels`,
          [pid],
        );
        assert.deepEqual(rows, [{ timeout: "0", no_temp: true, locks: 0, channels: 0 }]);
        const again = await next.execute("select $1::int as n", [2]);
        assert.deepEqual(again.rows, [{ n: 2 }], "prepared statements still work");
      } finally {
        next.release();
      }
    });

    test("serves 40 concurrent callers with 4 connections and never opens more", async () => {
      const pool = openPool({ maxOpenConns: 4 });
      let most = 0;
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, caller) => {
          const { rows } = await pool.execute<{ n: number }>(
            "select $1::int as n, pg_sleep(0.005)",
            [caller],
          );
          most = Math.max(most, pool.getMetrics().openConnections);
          return rows[0].n;
        }),
      );
      assert.deepEqual(results, Array.from({ length: 40 }, (_, i) => i));
      const metrics = pool.getMetrics();
      assert.ok(most <= 4, `at most 4 open, saw ${most}`);
      assert.equal(metrics.connectionsCreated, 4);
      assert.ok(metrics.waitCount > 0, "some callers waited");
      assert.equal(metrics.acquireCount, 40);
    });

    test("pings idle connections on the health interval", async () => {
      const pool = openPool({ healthInterval: 50 });
      await Promise.all([pool.execute("select 1"), pool.execute("select 1")]);
      await waitFor("two health checks to pass", () => pool.getMetrics().healthChecksPassed >= 2);
      assert.equal(pool.getMetrics().healthChecksFailed, 0);
    });

    test("closes every backend on close()", async () => {
      const pool = openPool();
      await Promise.all(Array.from({ length: 4 }, () => pool.execute("select pg_sleep(0.01)")));
      // A connect started for a caller whom another connection served first may still be under way.
      await waitFor("four backends", async () => (await sessions()) === 4);
      assert.equal(pool.getMetrics().openConnections, 4);
      await pool.close();
      await waitFor("every backend to leave", async () => (await sessions()) === 0);
      assert.equal(pool.getMetrics().openConnections, 0);
    });
  });
}
