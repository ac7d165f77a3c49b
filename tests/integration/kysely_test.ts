/**
 * Kysely over the pool (`@x/pool/kysely`) against a real PostgreSQL, over
 * both drivers and over a cluster's primary: queries, transactions and
 * their modes, savepoints, streaming, errors, metrics, and nothing left
 * behind. The Bun.SQL driver's tests are reported skipped off Bun.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { AbortedTransactionError, type Generated, Kysely, sql } from "kysely";
import { ConnectionPool, type Driver, postgresDriver } from "../../mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { PoolDialect } from "../../src/kysely/mod.ts";
import { codeOf, rejection, running, uniqueName } from "../support/driver_helpers.ts";
import { admin, startPostgres, waitFor } from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

interface Database {
  kysely_people: { id: Generated<number>; name: string };
}

const PREFIX = "x-pool-kysely";
const TEST = { timeout: 30_000 };
// Started here rather than in before(): Bun gives hooks 5 s, which initdb can take.
const server = await startPostgres();
const adminSql = admin(server.url);
after(async () => {
  await adminSql.close();
  await server.stop();
});

type DriverFor = (name: string) => Driver;
const targets: [string, DriverFor, string | undefined][] = [
  [
    "postgres.js",
    (name) => postgresDriver(server.url, { connection: { application_name: name } }),
    undefined,
  ],
  [
    "Bun.SQL",
    (name) => bunDriver(server.url, { connection: { application_name: name } }),
    ON_BUN ? undefined : "Bun.SQL needs Bun",
  ],
];

/** The names in the table, in order. */
async function names(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom("kysely_people").select("name").orderBy("name").execute();
  return rows.map((row) => row.name);
}

/** Checks that no connection is lent and no backend of `name` is in a transaction. */
async function assertNothingLeft(pool: ConnectionPool, name: string): Promise<void> {
  await assertNoLeaks(pool, { admin: adminSql, applicationName: name });
  assert.equal(pool.getMetrics().inUse, 0);
  const open = await adminSql.query(
    "select pid from pg_stat_activity where application_name = $1 and xact_start is not null",
    [name],
  );
  assert.deepEqual(open, [], "a backend of the pool is in a transaction");
}

for (const [label, driverFor, skip] of targets) {
  describe(`Kysely over ${label}${skip ? ` (skipped: ${skip})` : ""}`, { skip }, () => {
    const name = uniqueName(PREFIX);
    let pool: ConnectionPool;
    let db: Kysely<Database>;

    before(async () => {
      pool = new ConnectionPool({ driver: driverFor(name), maxOpenConns: 4, healthInterval: 0 });
      db = new Kysely<Database>({ dialect: new PoolDialect({ pool }) });
      await db.schema.dropTable("kysely_people").ifExists().execute();
      await db.schema.createTable("kysely_people")
        .addColumn("id", "serial", (column) => column.primaryKey())
        .addColumn("name", "text", (column) => column.notNull().unique())
        .execute();
    });
    after(async () => {
      await db.destroy();
      await pool.close();
    });

    it("creates, reads, updates and deletes rows through the query builder", TEST, async () => {
      const inserted = await db.insertInto("kysely_people")
        .values([{ name: "Ada" }, { name: "Grace" }])
        .returning(["id", "name"])
        .execute();
      assert.deepEqual(inserted.map((row) => row.name), ["Ada", "Grace"]);
      const [ada] = await db.selectFrom("kysely_people").selectAll()
        .where("id", "=", inserted[0].id).execute();
      assert.deepEqual(ada, inserted[0]);
      const updated = await db.updateTable("kysely_people").set({ name: "Ada L." })
        .where("id", "=", ada.id).executeTakeFirstOrThrow();
      assert.equal(updated.numUpdatedRows, 1n);
      const deleted = await db.deleteFrom("kysely_people").where("name", "like", "%a%")
        .executeTakeFirstOrThrow();
      assert.equal(deleted.numDeletedRows, 2n);
      assert.deepEqual(await names(db), []);
    });

    it(
      "begins a transaction with the isolation level and access mode asked for",
      TEST,
      async () => {
        const settings = await db.transaction().setIsolationLevel("serializable")
          .setAccessMode("read only").execute(async (trx) => {
            const isolation = await sql<
              { transaction_isolation: string }
            >`show transaction_isolation`
              .execute(trx);
            const readOnly = await sql<
              { transaction_read_only: string }
            >`show transaction_read_only`
              .execute(trx);
            return [
              isolation.rows[0].transaction_isolation,
              readOnly.rows[0].transaction_read_only,
            ];
          });
        assert.deepEqual(settings, ["serializable", "on"]);
        const error = await rejection(
          db.transaction().setIsolationLevel("snapshot").execute(() => Promise.resolve()),
        );
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, /isolationLevel must be one of .*"snapshot"/);
      },
    );

    it("commits a transaction whose function returns", TEST, async () => {
      const id = await db.transaction().execute(async (trx) => {
        const row = await trx.insertInto("kysely_people").values({ name: "Committed" })
          .returning("id").executeTakeFirstOrThrow();
        await trx.insertInto("kysely_people").values({ name: "Committed too" }).execute();
        return row.id;
      });
      assert.ok(id > 0);
      assert.deepEqual(await names(db), ["Committed", "Committed too"]);
      await db.deleteFrom("kysely_people").execute();
    });

    it("rolls back a transaction whose function throws, and rethrows its error", TEST, async () => {
      const thrown = new Error("changed my mind");
      const error = await rejection(
        db.transaction().execute(async (trx) => {
          await trx.insertInto("kysely_people").values({ name: "Rolled back" }).execute();
          throw thrown;
        }),
      );
      assert.equal(error, thrown);
      assert.deepEqual(await names(db), []);
    });

    it("reports a COMMIT the server answered with ROLLBACK", TEST, async () => {
      const error = await rejection(
        db.transaction().execute(async (trx) => {
          await trx.insertInto("kysely_people").values({ name: "Lost" }).execute();
          await rejection(sql`select 1 / 0`.execute(trx)); // fails the transaction, caught
        }),
      );
      assert.ok(error instanceof AbortedTransactionError, String(error));
      assert.deepEqual(await names(db), []);
    });

    it("undoes the work after a savepoint, whatever its name holds", TEST, async () => {
      const trx = await db.startTransaction().execute();
      await trx.insertInto("kysely_people").values({ name: "Kept" }).execute();
      const saved = await trx.savepoint('before "the" one').execute();
      await saved.insertInto("kysely_people").values({ name: "Undone" }).execute();
      const back = await saved.rollbackToSavepoint('before "the" one').execute();
      await back.releaseSavepoint('before "the" one').execute();
      await trx.commit().execute();
      assert.deepEqual(await names(db), ["Kept"]);
      await db.deleteFrom("kysely_people").execute();
    });

    it("runs db.connection() on one backend, holding its connection", TEST, async () => {
      const [first, inUse, second] = await db.connection().execute(async (conn) => {
        const pid = sql<{ pid: number }>`select pg_backend_pid() as pid`;
        const a = (await pid.execute(conn)).rows[0].pid;
        // Three statements elsewhere meanwhile: on the other connections.
        await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(db)));
        const held = pool.getMetrics().inUse;
        return [a, held, (await pid.execute(conn)).rows[0].pid];
      });
      assert.equal(second, first);
      assert.equal(inUse, 1, "the connection stays lent between statements");
    });

    it("passes a unique violation through with its SQLSTATE, 23505", TEST, async () => {
      await db.insertInto("kysely_people").values({ name: "Twice" }).execute();
      const error = await rejection(
        db.insertInto("kysely_people").values({ name: "Twice" }).execute(),
      );
      assert.equal(codeOf(error), "23505");
      assert.match((error as Error).message, /duplicate key/);
      await db.deleteFrom("kysely_people").execute();
    });

    it("streams rows through a cursor, chunk by chunk, with parameters", TEST, async () => {
      const numbers = db.selectFrom(sql<{ n: number }>`generate_series(1, ${250}::int)`.as("n"))
        .select("n").where("n", ">", 0);
      const seen: number[] = [];
      for await (const row of numbers.stream(100)) seen.push(row.n);
      assert.deepEqual(seen, Array.from({ length: 250 }, (_, i) => i + 1));

      const early: number[] = [];
      for await (const row of numbers.stream(10)) {
        early.push(row.n);
        if (early.length === 15) break;
      }
      assert.equal(early.length, 15);
      await assertNothingLeft(pool, name); // the stream's own transaction ended

      const inside = await db.transaction().execute(async (trx) => {
        const people = ["a", "b", "c", "d", "e"].map((name) => ({ name }));
        await trx.insertInto("kysely_people").values(people).execute();
        const rows: string[] = [];
        const query = trx.selectFrom("kysely_people").select("name").orderBy("name");
        for await (const row of query.stream(2)) rows.push(row.name); // sees its own writes
        // The stream's cursor is closed; the unnamed portal is this very statement's.
        const state = await sql<{ n: number }>`
          select count(*)::int as n from pg_cursors where name <> ''
        `.execute(trx);
        return { rows, cursors: state.rows[0].n };
      });
      assert.deepEqual(inside, { rows: ["a", "b", "c", "d", "e"], cursors: 0 });
      await db.deleteFrom("kysely_people").execute();
      const error = await rejection((async () => {
        for await (
          const _ of db.selectFrom(sql`(select 1 / 0 as n)`.as("x")).selectAll().stream()
        ) {
          // never reached
        }
      })());
      assert.equal(codeOf(error), "22012");
    });

    it('cancels a running statement on the server with "cancel query"', TEST, async () => {
      const controller = new AbortController();
      const reason = new Error("the caller gave up");
      const sleeping = rejection(sql`select pg_sleep(30)`.execute(db, {
        signal: controller.signal,
        inflightQueryAbortStrategy: "cancel query",
      }));
      await running(adminSql, name, "select pg_sleep(30)");
      controller.abort(reason);
      assert.equal(await sleeping, reason);
      // Left to run ("ignore query"), the statement would still be active for 30 s.
      await waitFor("the statement to stop", async () => {
        const active = await adminSql.query(
          "select 1 from pg_stat_activity where application_name = $1 and state = 'active'",
          [name],
        );
        return active.length === 0;
      });
      await assertNothingLeft(pool, name);
    });

    it("counts its work in the pool's metrics", TEST, async () => {
      const before = pool.getMetrics().acquireCount;
      for (let i = 0; i < 5; i++) await sql`select ${i}::int`.execute(db);
      await db.transaction().execute((trx) => sql`select 1`.execute(trx));
      assert.equal(pool.getMetrics().acquireCount - before, 6);
    });

    it("leaves no connection in use and no backend in a transaction", TEST, async () => {
      await assertNothingLeft(pool, name);
    });
  });
}

describe("PoolDialect's pool", () => {
  it("stays open after db.destroy(), unless closePool is set", TEST, async () => {
    const driver = postgresDriver(server.url);
    const kept = new ConnectionPool({ driver, healthInterval: 0 });
    await new Kysely<Database>({ dialect: new PoolDialect({ pool: kept }) }).destroy();
    assert.equal((await kept.execute("select 1 as n")).rows[0].n, 1);
    await kept.close();

    const owned = new ConnectionPool({ driver, healthInterval: 0 });
    const db = new Kysely<Database>({ dialect: new PoolDialect({ pool: owned, closePool: true }) });
    await sql`select 1`.execute(db);
    await db.destroy();
    assert.equal(owned.getMetrics().openConnections, 0);
    await assert.rejects(owned.execute("select 1"), { code: "POOL_CLOSED" });
  });

  it("gives up its place in the pool's queue when a query's signal aborts", TEST, async () => {
    const pool = new ConnectionPool({
      driver: postgresDriver(server.url),
      maxOpenConns: 1,
      healthInterval: 0,
    });
    const db = new Kysely<Database>({ dialect: new PoolDialect({ pool, closePool: true }) });
    const held = await pool.getConnection();
    const controller = new AbortController();
    const waiting = rejection(sql`select 1`.execute(db, { signal: controller.signal }));
    await waitFor("the query to wait", () => pool.getMetrics().waiting === 1);
    controller.abort(new Error("no longer needed"));
    assert.match(String(await waiting), /no longer needed/);
    await waitFor("the wait to end", () => pool.getMetrics().waiting === 0);
    assert.equal(pool.getMetrics().inUse, 1, "only the held connection is lent");
    held.release();
    await db.destroy();
  });

  it("is refused when it is not a ConnectionPool, naming the option", () => {
    assert.throws(
      () => new PoolDialect({ pool: {} as ConnectionPool }),
      { name: "TypeError", message: /pool must be a ConnectionPool, got / },
    );
    const pool = new ConnectionPool({ driver: postgresDriver(server.url), healthInterval: 0 });
    assert.throws(
      () => new PoolDialect({ pool, closePool: "yes" as unknown as boolean }),
      { name: "TypeError", message: /closePool must be a boolean/ },
    );
    assert.throws(
      () => new PoolDialect({ pool, ownPool: true } as unknown as { pool: ConnectionPool }),
      { name: "TypeError", message: /unknown option "ownPool"/ },
    );
    return pool.close();
  });

  it("can be a cluster's primary, with the cluster's routing left out", TEST, async () => {
    const name = uniqueName(PREFIX);
    const primary = new ConnectionPool({
      driver: postgresDriver(server.url, { connection: { application_name: name } }),
      name: "primary",
      healthInterval: 0,
    });
    await using cluster = new ClusterPool({ primary, replicas: [], healthInterval: 0 });
    const db = new Kysely<Database>({ dialect: new PoolDialect({ pool: cluster.primary }) });
    await db.schema.createTable("kysely_people").ifNotExists()
      .addColumn("id", "serial", (column) => column.primaryKey())
      .addColumn("name", "text", (column) => column.notNull().unique())
      .execute();
    await db.deleteFrom("kysely_people").execute();
    await db.transaction().setIsolationLevel("repeatable read").execute(async (trx) => {
      await trx.insertInto("kysely_people").values({ name: "On the primary" }).execute();
    });
    assert.deepEqual(await names(db), ["On the primary"]);
    const [member] = cluster.getMetrics().members;
    // The primary's pool counts the work; the cluster's routing never saw it.
    assert.ok(member.pool.acquireCount >= 3, JSON.stringify(member.pool));
    assert.equal(member.writes, 0);
    await db.deleteFrom("kysely_people").execute();
    await db.destroy();
    await assertNothingLeft(cluster.primary, name);
  });
});
