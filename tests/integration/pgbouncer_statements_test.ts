/**
 * The pool behind a real PgBouncer in transaction mode, in front of a real
 * PostgreSQL: statements without named prepared statements, which run again
 * on a backend that never saw them, and a statement cancelled past its
 * timeout. The shared integration suite runs through the bouncer too:
 * `pool_pgbouncer_test.ts`.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, QueryTimeoutError } from "../../mod.ts";
import { waitFor } from "../support/postgres.ts";
import { LOAD_ROLE, SERVER_POOL, SLOW, startPgBouncerEnv } from "../support/pgbouncer_env.ts";

const env = await startPgBouncerEnv();
const { db, loadLogin, unavailable, viaBouncer, checkAndClose } = env;
after(() => env.close());

describe("through PgBouncer in transaction mode", { skip: unavailable }, () => {
  it(
    "runs without named prepared statements: no backend holds one, not even for the statement asking",
    SLOW,
    async () => {
      const text = "select count(*)::int as n, pg_backend_pid() as pid " +
        "from pg_prepared_statements where $1::int > 0";
      const pools = new Map<string, ConnectionPool>();
      const name = "x-pool-bouncer-unprepared";
      const pool = new ConnectionPool({ driver: viaBouncer(loadLogin, name), maxOpenConns: 10 });
      pools.set(name, pool);
      const results = await Promise.all(
        Array.from({ length: 100 }, () => pool.execute<{ n: number; pid: number }>(text, [1])),
      );
      const pids = new Set(results.map((result) => result.rows[0].pid));
      assert.deepEqual(results.map((result) => result.rows[0].n), results.map(() => 0));
      assert.equal(pool.getMetrics().pipelinedStatements, 0, "no pipelining behind the pooler");
      // The contrast: with prepare on, the statement is named, and lists itself.
      const preparedName = "x-pool-bouncer-prepared";
      const prepared = new ConnectionPool({
        driver: viaBouncer(loadLogin, preparedName, { prepare: true }),
        maxOpenConns: 1,
      });
      pools.set(preparedName, prepared);
      const { rows } = await prepared.execute<{ n: number }>(text, [1]);
      assert.ok(rows[0].n >= 1, `a named statement lists itself, saw ${rows[0].n}`);
      assert.ok(pids.size >= 1);
      await checkAndClose(pools);
    },
  );

  it(
    "runs a statement again on a backend that never saw it, where a named prepared statement fails",
    SLOW,
    async () => {
      const text = "select $1::int as n, pg_backend_pid() as pid";
      const outcomes: Record<string, string> = {};
      for (const prepare of [false, true]) {
        const name = `x-pool-bouncer-moved-${prepare}`;
        const holdersName = `${name}-holders`;
        const pool = new ConnectionPool({
          driver: viaBouncer(loadLogin, name, { prepare }),
          maxOpenConns: 1,
        });
        const holders = new ConnectionPool({
          driver: viaBouncer(loadLogin, holdersName),
          maxOpenConns: SERVER_POOL - 1,
        });
        const held = [];
        try {
          const conn = await pool.getConnection();
          try {
            const first = (await conn.execute<{ pid: number }>(text, [1])).rows[0].pid;
            // Hold the backend that ran it, so the next run must take another.
            let holding = false;
            for (let i = 0; i < SERVER_POOL - 1 && !holding; i++) {
              const tx = await holders.beginTx();
              held.push(tx);
              const { rows } = await tx.execute<{ pid: number }>("select pg_backend_pid() as pid");
              holding = rows[0].pid === first;
            }
            assert.ok(holding, `a holder got backend ${first}`);
            // In a transaction, so that postgres.js cannot quietly prepare it again and retry.
            await conn.execute("begin");
            try {
              const { rows } = await conn.execute<{ n: number; pid: number }>(text, [2]);
              assert.notEqual(rows[0].pid, first);
              outcomes[String(prepare)] = `ok ${rows[0].n}`;
            } catch (error) {
              outcomes[String(prepare)] = `error ${(error as { code?: string }).code}`;
            } finally {
              await conn.execute("rollback");
            }
          } finally {
            conn.release();
          }
        } finally {
          for (const tx of held) await tx.rollback();
          await checkAndClose(new Map([[name, pool], [holdersName, holders]]));
        }
      }
      assert.deepEqual(outcomes, { false: "ok 2", true: "error 26000" });
    },
  );

  it("cancels a statement past its timeout on the server, through the bouncer", SLOW, async () => {
    const name = "x-pool-bouncer-cancel";
    const pool = new ConnectionPool({ driver: viaBouncer(loadLogin, name), maxOpenConns: 1 });
    const backendsOf = (state: string) =>
      db.query(
        "select pid from pg_stat_activity where usename = $1 and state = $2 " +
          "and query = 'select pg_sleep(30)'",
        [LOAD_ROLE, state],
      );
    try {
      await assert.rejects(
        pool.execute("select pg_sleep(30)", [], { timeout: 300 }),
        QueryTimeoutError,
      );
      // Uncancelled, the backend would sleep for 30 s.
      await waitFor("the backend to stop sleeping", async () => {
        return (await backendsOf("active")).length === 0;
      });
      assert.equal((await backendsOf("idle")).length, 1, "the statement reached a backend");
      const { rows } = await pool.execute("select 1 as n");
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.equal(pool.getMetrics().connectionsCreated, 1, "the connection survived the cancel");
    } finally {
      await checkAndClose(new Map([[name, pool]]));
    }
  });
});
