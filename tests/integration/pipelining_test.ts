/**
 * Pipelining against a real PostgreSQL, over both drivers: single
 * statements from `pool.execute` share a connection once every connection
 * is busy, and no statement fails, cancels or joins the transaction of
 * another. The Bun.SQL driver's tests are reported skipped off Bun.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ConnectionPool, type Driver, type PoolOptions, postgresDriver } from "../../mod.ts";
import { QueryTimeoutError } from "../../src/errors.ts";
import { codeOf, rejection, uniqueName } from "../support/driver_helpers.ts";
import { admin, startPostgres, waitFor } from "../support/postgres.ts";
import { startStatementCounter } from "../support/statement_counter.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const PREFIX = "x-pool-pipelining";
const TEST = { timeout: 30_000 };
const db = await startPostgres();
const sql = admin(db.url);
after(async () => {
  await sql.close();
  await db.stop();
});

type DriverFor = (url: string, name: string) => Driver;
const targets: [string, DriverFor, string | undefined][] = [
  [
    "postgres.js",
    (url, name) => postgresDriver(url, { connection: { application_name: name } }),
    undefined,
  ],
  [
    "Bun.SQL",
    (url, name) => bunDriver(url, { connection: { application_name: name } }),
    ON_BUN ? undefined : "Bun.SQL needs Bun",
  ],
];

/** The URL of the test server with another port, as through a proxy. */
function viaPort(port: number): string {
  const url = new URL(db.url);
  url.port = String(port);
  return url.href;
}

/** The state of each backend named `name`: "active", "idle", "idle in transaction"... */
async function states(name: string): Promise<string[]> {
  const rows = await sql.query<{ state: string }>(
    "select state from pg_stat_activity where application_name = $1",
    [name],
  );
  return rows.map((row) => row.state);
}

for (const [label, driverFor, skip] of targets) {
  describe(`pipelining over ${label}${skip ? ` (skipped: ${skip})` : ""}`, { skip }, () => {
    const pools: ConnectionPool[] = [];
    after(() => Promise.all(pools.map((pool) => pool.close())));

    function open(name: string, options: Partial<PoolOptions> = {}, url = db.url) {
      const pool = new ConnectionPool({
        driver: driverFor(url, name),
        maxOpenConns: 1,
        healthInterval: 0,
        ...options,
      });
      pools.push(pool);
      return pool;
    }

    it("sends statements on one socket while an earlier one still runs", TEST, async () => {
      const name = uniqueName(PREFIX);
      const counter = await startStatementCounter(db.options);
      try {
        const pool = open(name, {}, viaPort(counter.port));
        // postgres.js sends nothing behind a statement it has not described
        // yet (prepare: true); once each text is known, it pipelines.
        await pool.execute("select pg_sleep($1)::text as slept", [0]);
        await pool.execute("select $1::int as n", [0]);
        const before = counter.statements;
        const slow = pool.execute<{ slept: string }>("select pg_sleep($1)::text as slept", [0.5]);
        const fast = [1, 2, 3].map((n) => pool.execute<{ n: number }>("select $1::int as n", [n]));
        await waitFor("all four statements on the wire", () => counter.statements >= before + 4);
        const now = await states(name);
        assert.deepEqual(now, ["active"], `sent while the sleep still runs: ${now}`);
        await slow;
        assert.deepEqual((await Promise.all(fast)).map((r) => r.rows[0].n), [1, 2, 3]);
        assert.equal(counter.accepted, 1, "one socket");
        assert.equal(pool.getMetrics().pipelinedStatements, 3);
      } finally {
        await counter.close();
      }
    });

    it("pipelines statements without parameters too", TEST, async () => {
      const name = uniqueName(PREFIX);
      const counter = await startStatementCounter(db.options);
      try {
        const pool = open(name, {}, viaPort(counter.port));
        // Bun.SQL too sends nothing behind a text it has not prepared yet;
        // its first run is quick, so the pool does not remember it as slow.
        await sql.query(
          "create table if not exists pipelining_sleep (name text primary key, seconds float)",
        );
        await sql.query("insert into pipelining_sleep values ($1, 0)", [name]);
        const sleep =
          `select pg_sleep(seconds)::text as slept from pipelining_sleep where name = '${name}'`;
        await pool.execute(sleep);
        await pool.execute("select 1 as n");
        await sql.query("update pipelining_sleep set seconds = 0.4 where name = $1", [name]);
        const before = counter.statements;
        const slow = pool.execute<{ slept: string }>(sleep);
        const fast = [1, 2, 3].map(() => pool.execute<{ n: number }>("select 1 as n"));
        await waitFor("all four statements on the wire", () => counter.statements >= before + 4);
        const now = await states(name);
        assert.deepEqual(now, ["active"], `sent while the sleep still runs: ${now}`);
        assert.deepEqual((await slow).rows, [{ slept: "" }]);
        assert.deepEqual((await Promise.all(fast)).map((r) => r.rows), [[{ n: 1 }], [{ n: 1 }], [{
          n: 1,
        }]]);
        assert.equal(counter.accepted, 1, "one socket");
        assert.equal(pool.getMetrics().pipelinedStatements, 3);
      } finally {
        await counter.close();
      }
    });

    it("adds nothing behind a statement whose text ran long last time", TEST, async () => {
      const name = uniqueName(PREFIX);
      const pool = open(name, { maxOpenConns: 2 });
      const slow = "select pg_backend_pid() as pid, pg_sleep(0.3)::text as slept";
      const fast = "select pg_backend_pid() as pid";
      await pool.execute(slow);
      await pool.execute(fast);
      const sleeping = pool.execute<{ pid: number }>(slow);
      const quick = Array.from({ length: 6 }, () => pool.execute<{ pid: number }>(fast));
      const sleptOn = (await sleeping).rows[0].pid;
      const ranOn = new Set((await Promise.all(quick)).map((r) => r.rows[0].pid));
      assert.deepEqual([...ranOn].filter((pid) => pid === sleptOn), [], "none behind the sleep");
      assert.equal(ranOn.size, 1, "all on the other connection");
      assert.ok(pool.getMetrics().pipelinedStatements >= 4, "pipelined there");
    });

    it(
      "never opens more connections than maxOpenConns, and answers each caller its own rows",
      TEST,
      async () => {
        const name = uniqueName(PREFIX);
        const pool = open(name, { maxOpenConns: 3 });
        let most = 0;
        let sampling = true;
        const sampler = (async () => {
          for (let i = 0; sampling && i < 500; i++) {
            most = Math.max(most, (await sql.backends(name)).length);
          }
        })();
        const results = await Promise.all(
          Array.from(
            { length: 60 },
            (_, n) => pool.execute<{ n: number }>("select $1::int as n, pg_sleep(0.002)", [n]),
          ),
        );
        sampling = false;
        await sampler;
        assert.deepEqual(results.map((r) => r.rows[0].n), Array.from({ length: 60 }, (_, n) => n));
        assert.ok(most <= 3, `at most 3 backends, saw ${most}`);
        const m = pool.getMetrics();
        assert.equal(m.connectionsCreated, 3);
        assert.ok(m.pipelinedStatements > 0, "some statements shared a connection");
        assert.equal(m.acquireCount, 60);
      },
    );

    it("fails a pipelined statement alone and leaves no transaction open", TEST, async () => {
      const name = uniqueName(PREFIX);
      const pool = open(name);
      await sql.query(`create table if not exists pipelining_unique (id int primary key)`);
      await sql.query(`delete from pipelining_unique`);
      await sql.query(`insert into pipelining_unique values (1)`);
      const slow = pool.execute("select pg_sleep(0.2)");
      const calls = [
        pool.execute("select 1 / 0 as boom"),
        pool.execute<{ n: number }>("select 2 as n"),
        pool.execute("select * from pipelining_no_such_table"),
        pool.execute("insert into pipelining_unique values (1)"),
        pool.execute<{ n: number }>("select 3 as n"),
      ];
      const settled = await Promise.allSettled([slow, ...calls]);
      assert.deepEqual(
        settled.map((s) => s.status === "fulfilled" ? "ok" : codeOf(s.reason)),
        ["ok", "22012", "ok", "42P01", "23505", "ok"],
      );
      assert.ok(pool.getMetrics().pipelinedStatements >= 4);
      await waitFor("the backend idle", async () => (await states(name))[0] === "idle");
      const m = pool.getMetrics();
      assert.deepEqual([m.inUse, m.idle], [0, 1]);
      const [backend] = await sql.query<{ xact_start: unknown }>(
        "select xact_start from pg_stat_activity where application_name = $1",
        [name],
      );
      assert.equal(backend.xact_start, null, "no transaction open");
    });

    it(
      "rejects an aborted statement at once without cancelling the one before it",
      TEST,
      async () => {
        const name = uniqueName(PREFIX);
        const pool = open(name);
        const first = pool.execute<{ a: number }>("select 1 as a, pg_sleep(0.4)");
        const controller = new AbortController();
        const second = rejection(
          pool.execute("select 2 as b, pg_sleep(0.4)", [], { signal: controller.signal }),
        );
        await waitFor(
          "the second behind the first",
          () => pool.getMetrics().pipelinedStatements === 1,
        );
        const reason = new Error("caller gave up");
        controller.abort(reason);
        assert.equal(await second, reason);
        const { rows } = await first;
        assert.equal(rows[0].a, 1, "the first ran to its end, not cancelled (57014)");
        await waitFor("the backend idle", async () => (await states(name))[0] === "idle");
        assert.equal((await pool.execute<{ n: number }>("select 5 as n")).rows[0].n, 5);
      },
    );

    it("times out a pipelined statement without cancelling the one before it", TEST, async () => {
      const name = uniqueName(PREFIX);
      const pool = open(name);
      const first = pool.execute<{ a: number }>("select 1 as a, pg_sleep(0.4)");
      const timedOut = rejection(pool.execute("select pg_sleep(0.4)", [], { timeout: 100 }));
      assert.ok(await timedOut instanceof QueryTimeoutError);
      assert.equal((await first).rows[0].a, 1);
    });

    it("cancels an aborted statement on the server when it runs alone", TEST, async () => {
      const name = uniqueName(PREFIX);
      const pool = open(name);
      const controller = new AbortController();
      const call = rejection(
        pool.execute("select pg_sleep(20)", [], { signal: controller.signal }),
      );
      await waitFor("the sleep running", async () => (await states(name))[0] === "active");
      controller.abort(new Error("stop"));
      await call;
      await waitFor(
        "the backend idle long before 20 s",
        async () => (await states(name))[0] === "idle",
      );
    });

    it("never sends a statement on a connection lent to a transaction", TEST, async () => {
      const name = uniqueName(PREFIX);
      const pool = open(name, { maxOpenConns: 2 });
      const tx = await pool.beginTx();
      const { rows: [{ pid: txPid }] } = await tx.execute<{ pid: number }>(
        "select pg_backend_pid() as pid",
      );
      const results = await Promise.all(
        Array.from(
          { length: 30 },
          () => pool.execute<{ pid: number }>("select pg_backend_pid() as pid, pg_sleep(0.001)"),
        ),
      );
      await tx.commit();
      const pids = new Set(results.map((r) => r.rows[0].pid));
      assert.equal(pids.size, 1, "every statement on the other connection");
      assert.ok(!pids.has(txPid));
      assert.ok(pool.getMetrics().pipelinedStatements > 0);
    });
  });
}
