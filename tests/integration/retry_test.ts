/**
 * Retry policies against a real PostgreSQL, over each driver: a real
 * serialization failure and a real deadlock are run again to success, a
 * transaction whose backend was terminated before COMMIT runs again on a new
 * connection, and an idempotent statement survives the death of its idle
 * connection. Each test ends with the leak check. The Bun.SQL driver's tests
 * are reported skipped off Bun.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { ConnectionPool, type Driver, type PoolOptions, postgresDriver } from "../../mod.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { admin, startPostgres } from "../support/postgres.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const PREFIX = "x-pool-retry";
const TEST = { timeout: 30_000 };
const db = await startPostgres();
const sql = admin(db.url);
after(async () => {
  await sql.close();
  await db.stop();
});

type DriverFor = (name: string) => Driver;
const targets: [string, DriverFor, string | undefined][] = [
  [
    "postgres.js",
    (name) => postgresDriver(db.url, { connection: { application_name: name } }),
    undefined,
  ],
  [
    "pg",
    (name) => pgDriver({ ...db.options, connection: { application_name: name } }),
    undefined,
  ],
  [
    "Bun.SQL",
    (name) => bunDriver(db.url, { connection: { application_name: name } }),
    ON_BUN ? undefined : "Bun.SQL needs Bun",
  ],
];

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => open = resolve);
  return { opened, open };
}

for (const [label, driverFor, skip] of targets) {
  describe(`retries over ${label}${skip ? ` (skipped: ${skip})` : ""}`, { skip }, () => {
    let name = "";
    const pools: ConnectionPool[] = [];

    function open(options: Partial<PoolOptions> = {}): ConnectionPool {
      name = uniqueName(PREFIX);
      const pool = new ConnectionPool({
        driver: driverFor(name),
        maxOpenConns: 2,
        healthInterval: 0,
        ...options,
      });
      pools.push(pool);
      return pool;
    }

    async function freshTable(): Promise<string> {
      const table = `retry_${name.replace(/\W+/g, "_")}`;
      await sql.query(`create table ${table} (id int primary key, n int not null)`);
      await sql.query(`insert into ${table} values (1, 0), (2, 0)`);
      return table;
    }

    after(() => Promise.all(pools.map((pool) => pool.close())));

    it(
      "runs a transaction again after a real serialization failure, to success",
      TEST,
      async () => {
        const pool = open();
        const t = await freshTable();
        const snapshotTaken = gate();
        const otherCommitted = gate();
        let runs = 0;
        const first = pool.transaction(async (tx) => {
          runs++;
          await tx.execute(`select n from ${t} where id = 1`);
          if (runs === 1) {
            snapshotTaken.open();
            await otherCommitted.opened;
          }
          await tx.execute(`update ${t} set n = n + 1 where id = 1`);
        }, { isolationLevel: "serializable", retries: 2 });
        await snapshotTaken.opened;
        await pool.transaction((tx) => tx.execute(`update ${t} set n = n + 10 where id = 1`), {
          isolationLevel: "serializable",
        });
        otherCommitted.open();
        await first;
        const [row] = await sql.query<{ n: number }>(`select n from ${t} where id = 1`);
        assert.equal(row.n, 11, "both updates, the retried one once");
        assert.deepEqual([runs, pool.getMetrics().retries], [2, 1]);
        await assertNoLeaks(pool, { admin: sql, applicationName: name });
      },
    );

    it("runs the loser of a real deadlock again, to success", TEST, async () => {
      const pool = open();
      const t = await freshTable();
      const locked = [gate(), gate()];
      let runs = 0;
      const crosswise = (mine: number, theirs: number) =>
        pool.transaction(async (tx) => {
          const firstRun = ++runs <= 2;
          await tx.execute(`update ${t} set n = n + 1 where id = $1`, [mine]);
          if (firstRun) {
            locked[mine - 1].open();
            await locked[theirs - 1].opened;
          }
          await tx.execute(`update ${t} set n = n + 1 where id = $1`, [theirs]);
        }, { retries: 1 });
      await Promise.all([crosswise(1, 2), crosswise(2, 1)]);
      const rows = await sql.query<{ n: number }>(`select n from ${t} order by id`);
      assert.deepEqual(rows.map((row) => row.n), [2, 2], "both transactions, each once");
      assert.deepEqual([runs, pool.getMetrics().retries], [3, 1]);
      await assertNoLeaks(pool, { admin: sql, applicationName: name });
    });

    it(
      "runs a transaction again on a new connection when its backend was terminated before COMMIT",
      TEST,
      async () => {
        const pool = open();
        const t = await freshTable();
        let runs = 0;
        const pids: number[] = [];
        await pool.transaction(async (tx) => {
          runs++;
          const { rows } = await tx.execute<{ pid: number }>("select pg_backend_pid() as pid");
          pids.push(rows[0].pid);
          if (runs === 1) {
            await sql.terminatePid(rows[0].pid);
          }
          await tx.execute(`update ${t} set n = n + 1 where id = 1`);
        }, { retries: 1 });
        const [row] = await sql.query<{ n: number }>(`select n from ${t} where id = 1`);
        assert.equal(row.n, 1, "committed once");
        assert.equal(runs, 2);
        assert.notEqual(pids[1], pids[0], "on another backend");
        assert.equal(pool.getMetrics().retries, 1);
        await assertNoLeaks(pool, { admin: sql, applicationName: name });
      },
    );

    it(
      "runs an idempotent statement on another connection after its idle connection's backend was terminated",
      TEST,
      async () => {
        const pool = open({ maxOpenConns: 1, validateAfterIdle: 0 });
        await pool.execute("select 1");
        assert.equal(await sql.terminate(name), 1);
        const { rows } = await pool.execute<{ n: number }>("select $1::int as n", [7], {
          idempotent: true,
        });
        assert.deepEqual(rows, [{ n: 7 }]);
        assert.equal(pool.getMetrics().connectionsCreated, 2);
        await assertNoLeaks(pool, { admin: sql, applicationName: name });
      },
    );
  });
}
