/**
 * `pool.sql`, `conn.sql` and `tx.sql` against a real PostgreSQL, over both
 * drivers: values of every common type arrive as values (quotes, `$1` and
 * `; drop table` included), row counts and command tags come back, and
 * fragments, identifiers and lists splice as they should. The Bun.SQL
 * driver's tests are reported skipped off Bun.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ConnectionPool, type Driver, postgresDriver, sql } from "../../mod.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { startPostgres } from "../support/postgres.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const PREFIX = "x-pool-sql";
const TEST = { timeout: 30_000 };
const db = await startPostgres();
after(() => db.stop());

type DriverFor = (url: string, name: string) => Driver;
const targets: [string, string, DriverFor, string | undefined][] = [
  [
    "postgres.js",
    "pgjs",
    (url, name) => postgresDriver(url, { connection: { application_name: name } }),
    undefined,
  ],
  [
    "Bun.SQL",
    "bun",
    (url, name) => bunDriver(url, { connection: { application_name: name } }),
    ON_BUN ? undefined : "Bun.SQL needs Bun",
  ],
];

/** Strings that would change a statement if they were spliced in as text. */
const HOSTILE = ["it's", 'say "hi"', "$1", "$2::int", "; drop table x; --", "\\", "$$", "", "ü ✓"];

for (const [label, tag, driverFor, skip] of targets) {
  describe(`sql templates over ${label}${skip ? ` (skipped: ${skip})` : ""}`, { skip }, () => {
    const pools: ConnectionPool[] = [];
    after(() => Promise.all(pools.map((pool) => pool.close())));

    function openPool(): ConnectionPool {
      const pool = new ConnectionPool({
        driver: driverFor(db.url, uniqueName(PREFIX)),
        maxOpenConns: 2,
        healthInterval: 0,
      });
      pools.push(pool);
      return pool;
    }

    it(
      "sends hostile strings, null, numbers, booleans, dates and arrays as values, and reads them back",
      TEST,
      async () => {
        const pool = openPool();
        const table = sql.identifier(`sql values ${tag}`);
        await pool.sql`drop table if exists ${table}`;
        await pool.sql`create table ${table} (
        id int primary key, s text, n int, f float8, b bool, d timestamptz, ints int[], texts text[]
      )`;
        const date = new Date("2026-02-03T04:05:06.789Z");
        for (const [i, s] of HOSTILE.entries()) {
          const inserted = await pool
            .sql`insert into ${table} values (${i}, ${s}, ${null}, ${-1.5}, ${
            i % 2 === 0
          }, ${date}, ${[i, null]}, ${[s, null]})`;
          assert.deepEqual([inserted.rowCount, inserted.command], [1, "INSERT"]);
        }
        const rows = await pool.sql<{
          id: number;
          s: string;
          n: number | null;
          f: number;
          b: boolean;
          d: Date;
          ints: (number | null)[];
          texts: (string | null)[];
        }>`select * from ${table} order by id`;
        assert.equal(rows.length, HOSTILE.length);
        for (const [i, s] of HOSTILE.entries()) {
          const row = rows[i];
          assert.deepEqual(
            [row.id, row.s, row.n, row.f, row.b, row.ints, row.texts],
            [i, s, null, -1.5, i % 2 === 0, [i, null], [s, null]],
          );
          assert.equal(new Date(row.d).getTime(), date.getTime());
        }
        const echoed = await pool.sql<{ v: string }>`select ${"$1"}::text as v, ${"x"}::text as w`;
        assert.deepEqual([...echoed], [{ v: "$1", w: "x" }]);
        const [{ count }] = await pool.sql<{ count: number }>`
        select count(*)::int as count from ${table} where s = ${"; drop table x; --"}`;
        assert.equal(count, 1, "the value matched as a value, and the table is still there");
        await pool.sql`drop table ${table}`;
      },
    );

    it("reports rowCount and command for insert, update, delete and select", TEST, async () => {
      const pool = openPool();
      const table = sql.identifier("public", `sql counts ${tag}`);
      await pool.sql`drop table if exists ${table}`;
      await pool.sql`create table ${table} (id int primary key, note text)`;
      const counts = async (result: Promise<{ rowCount: number; command: string }>) => {
        const { rowCount, command } = await result;
        return [rowCount, command];
      };
      const rows = sql.join([1, 2, 3].map((id) => sql`(${id}, ${`note ${id}`})`));
      assert.deepEqual(await counts(pool.sql`insert into ${table} values ${rows}`), [3, "INSERT"]);
      assert.deepEqual(
        await counts(pool.sql`update ${table} set note = ${"x"} where id in (${sql.join([1, 2])})`),
        [2, "UPDATE"],
      );
      assert.deepEqual(await counts(pool.sql`delete from ${table} where id = ${3}`), [1, "DELETE"]);
      const returned = await pool.sql<{ id: number }>`
        insert into ${table} values (${4}, ${null}) returning id`;
      assert.deepEqual([[...returned], returned.rowCount, returned.command], [
        [{ id: 4 }],
        1,
        "INSERT",
      ]);
      const selected = await pool.sql`select id from ${table} order by id`;
      assert.deepEqual([selected.length, selected.rowCount, selected.command], [3, 3, "SELECT"]);
      await pool.sql`drop table ${table}`;
    });

    it(
      "runs on a lent connection and in a transaction, which rolls back with its statements",
      TEST,
      async () => {
        const pool = openPool();
        const table = sql.identifier(`sql "forms" ${tag}`);
        await pool.sql`drop table if exists ${table}`;
        await pool.sql`create table ${table} (id int primary key)`;
        {
          await using conn = await pool.getConnection();
          const [{ pid }] = await conn.sql<{ pid: number }>`select pg_backend_pid() as pid`;
          const [{ same }] = await conn.sql<{ same: number }>`select pg_backend_pid() as same`;
          assert.equal(pid, same, "one session");
          const inserted = await conn.sql`insert into ${table} values (${1})`;
          assert.deepEqual([inserted.rowCount, inserted.command], [1, "INSERT"]);
        }
        await assert.rejects(
          pool.transaction(async (tx) => {
            const inserted = await tx.sql`insert into ${table} values (${2}), (${3})`;
            assert.equal(inserted.rowCount, 2);
            const seen = await tx.sql`select id from ${table}`;
            assert.equal(seen.length, 3, "the transaction sees its own rows");
            throw new Error("roll back");
          }),
          /roll back/,
        );
        const ids = await pool.sql<{ id: number }>`select id from ${table} order by id`;
        assert.deepEqual([...ids], [{ id: 1 }]);
        const tx = await pool.beginTx();
        await tx.sql`delete from ${table} where id = ${1}`;
        await tx.commit();
        assert.equal((await pool.sql`select id from ${table}`).length, 0);
        await pool.sql`drop table ${table}`;
      },
    );

    it("splices fragments, quoted identifiers and lists into one statement", TEST, async () => {
      const pool = openPool();
      const column = sql.identifier('odd "name"');
      const where = sql`n > ${1} and ${sql`n < ${4}`}`;
      const rows = await pool.sql<Record<string, unknown>>`
        select n as ${column}, ${"fixed"}::text as ${sql.identifier("label")}
        from generate_series(${1}::int, ${5}::int) as n
        where ${where} and n in (${sql.join([2, 3, 5])}) order by n`;
      assert.deepEqual([...rows], [
        { 'odd "name"': 2, label: "fixed" },
        { 'odd "name"': 3, label: "fixed" },
      ]);
      const any = await pool.sql<{ n: number }>`
        select n from generate_series(1, 5) as n where n = any(${[1, 4]}::int[]) order by n`;
      assert.deepEqual([...any], [{ n: 1 }, { n: 4 }]);
      await assert.rejects(pool.sql`select ${undefined}`, TypeError);
      const query = sql`select ${"via execute"}::text as v`;
      const { rows: viaExecute } = await pool.execute(query.text, query.values, { timeout: 5_000 });
      assert.deepEqual(viaExecute, [{ v: "via execute" }]);
    });
  });
}
