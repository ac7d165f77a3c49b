/**
 * `resetSession: "auto"` (the default) against a real PostgreSQL, over each
 * driver: what one borrower leaves in the session never reaches the next
 * borrower of the same connection, and ordinary statements cost no round
 * trip on release (counted on the wire). Each test ends with the leak check.
 * The Bun.SQL driver's tests are reported skipped off Bun.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { ConnectionPool, type Driver, postgresDriver } from "../../mod.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { admin, startPostgres } from "../support/postgres.ts";
import { startStatementCounter } from "../support/statement_counter.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const PREFIX = "x-pool-session";
const TEST = { timeout: 30_000 };
const db = await startPostgres();
const sql = admin(db.url);
after(async () => {
  await sql.close();
  await db.stop();
});

type DriverFor = (name: string, port: number) => Driver;
const targets: [string, DriverFor, string | undefined][] = [
  [
    "postgres.js",
    (name, port) => postgresDriver(viaPort(port), { connection: { application_name: name } }),
    undefined,
  ],
  [
    "pg",
    (name, port) => pgDriver({ ...db.options, port, connection: { application_name: name } }),
    undefined,
  ],
  [
    "Bun.SQL",
    (name, port) => bunDriver(viaPort(port), { connection: { application_name: name } }),
    ON_BUN ? undefined : "Bun.SQL needs Bun",
  ],
];

/** The URL of the test server with another port, as through a proxy. */
function viaPort(port: number): string {
  const url = new URL(db.url);
  url.port = String(port);
  return url.href;
}

/** What a borrower can see of the session: each item is clean when it reads as in a new one. */
const LOOK = `select current_setting('search_path') as search_path,
  current_setting('application_name') as application_name,
  (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as locks,
  (select count(*)::int from pg_listening_channels()) as channels,
  (select count(*)::int from pg_prepared_statements where from_sql) as prepared,
  (select count(*)::int from pg_cursors) as cursors,
  to_regclass('pg_temp.scratch') is null as no_temp,
  pg_backend_pid() as pid`;

/** Each borrower's change of the session, as one statement. */
const CHANGES = [
  "set search_path = pg_catalog",
  "set application_name = 'changed'",
  "select set_config('search_path', 'pg_catalog', false)",
  "select pg_advisory_lock(42)",
  "listen pool_channel",
  "prepare borrowed as select 1",
  "create temp table scratch (x int)",
];

for (const [label, driverFor, skip] of targets) {
  describe(
    `resetSession "auto" over ${label}${skip ? ` (skipped: ${skip})` : ""}`,
    { skip },
    () => {
      it(
        "hides each borrower's change of the session from the next borrower of the connection",
        TEST,
        async () => {
          const name = uniqueName(PREFIX);
          const pool = new ConnectionPool({
            driver: driverFor(name, db.options.port),
            maxOpenConns: 1,
            healthInterval: 0,
          });
          try {
            const look = async () => (await pool.execute<Record<string, unknown>>(LOOK)).rows[0];
            const clean = await look();
            assert.equal(clean.application_name, name);
            for (const change of CHANGES) {
              await pool.execute(change);
              assert.deepEqual(await look(), clean, `after ${change}`);
            }
            await pool.transaction(async (tx) => {
              await tx.execute("declare held cursor with hold for select 1");
              await tx.execute("set search_path = pg_catalog");
            });
            assert.deepEqual(await look(), clean, "after a transaction that committed a SET");
            const conn = await pool.getConnection();
            for (const change of CHANGES) await conn.execute(change);
            conn.release();
            assert.deepEqual(await look(), clean, "after one loan with every change");
            assert.equal(pool.getMetrics().connectionsCreated, 1, "one connection all along");
            await assertNoLeaks(pool, { admin: sql, applicationName: name });
          } finally {
            await pool.close();
          }
        },
      );

      it(
        "sends nothing on release after ordinary statements, and one reset after a change",
        TEST,
        async () => {
          const name = uniqueName(PREFIX);
          const counter = await startStatementCounter(db.options);
          const pool = new ConnectionPool({
            driver: driverFor(name, counter.port),
            maxOpenConns: 1,
            healthInterval: 0,
            validateAfterIdle: 0,
          });
          try {
            const select = "select $1::int as n";
            // Once known, a text takes the same messages each time, whatever the driver.
            await pool.execute(select, [0]);
            await pool.execute(select, [0]);
            const before = counter.statements;
            await pool.execute(select, [1]);
            const perStatement = counter.statements - before;
            assert.ok(perStatement >= 1);
            for (let i = 0; i < 5; i++) await pool.execute(select, [i]);
            const conn = await pool.getConnection();
            await conn.execute(select, [9]);
            conn.release();
            assert.equal(counter.statements - before, 7 * perStatement, "no reset round trip");
            await pool.execute("set search_path = pg_catalog");
            const afterSet = counter.statements;
            await pool.execute(select, [1]);
            assert.ok(
              counter.statements - afterSet >= perStatement + 1,
              "the reset before the next borrower",
            );
            assert.equal(pool.getMetrics().connectionsCreated, 1);
            await assertNoLeaks(pool, { admin: sql, applicationName: name });
          } finally {
            await pool.close();
            await counter.close();
          }
        },
      );
    },
  );
}
