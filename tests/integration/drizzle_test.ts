/**
 * Drizzle ORM over the pool (`@x/pool/drizzle`) against a real PostgreSQL:
 * over the postgres.js driver, over Bun.SQL (reported skipped off Bun), and
 * through a ClusterPool, whose statements and transactions go to its
 * primary. After every test no connection is in use and no backend of the
 * pool is left in a transaction.
 */

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  asc,
  DrizzleQueryError,
  eq,
  sql as drizzleSql,
  TransactionRollbackError,
} from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { ConnectionPool, type Driver, postgresDriver } from "../../mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { drizzle, type DrizzlePool } from "../../src/drizzle/mod.ts";
import { admin, startPostgres } from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";
import { blogDdl, blogSchema } from "./_drizzle_schema.ts";

const PREFIX = "x-pool-drizzle";
const TEST = { timeout: 30_000 };
// Started here rather than in before(): Bun gives hooks 5 s.
const server = await startPostgres();
const sql = admin(server.url);
after(async () => {
  await sql.close();
  await server.stop();
});

/** One way to run Drizzle: a driver, and what `drizzle()` is given. */
interface Target {
  label: string;
  skip: string | undefined;
  driver(name: string): Driver;
  /** What `drizzle()` runs on, given the pool whose connections are checked. */
  client(pool: ConnectionPool): DrizzlePool & { close?(): Promise<void> };
}

const postgresJs = (name: string) =>
  postgresDriver(server.url, { connection: { application_name: name } });
const targets: Target[] = [
  { label: "postgres.js", skip: undefined, driver: postgresJs, client: (pool) => pool },
  {
    label: "Bun.SQL",
    skip: ON_BUN ? undefined : "Bun.SQL needs Bun",
    driver: (name) => bunDriver(server.url, { connection: { application_name: name } }),
    client: (pool) => pool,
  },
  {
    label: "a ClusterPool's primary (postgres.js)",
    skip: undefined,
    driver: postgresJs,
    // No health checks: their probes would count in the primary's metrics.
    client: (pool) => new ClusterPool({ primary: pool, replicas: [], healthInterval: 0 }),
  },
];

let schemas = 0;

for (const target of targets) {
  const title = `drizzle() over ${target.label}${target.skip ? ` (skipped: ${target.skip})` : ""}`;
  describe(title, { skip: target.skip }, () => {
    const schemaName = `drizzle_${++schemas}`;
    const schema = blogSchema(schemaName);
    const { users, posts } = schema;
    let pool!: ConnectionPool;
    let client!: ReturnType<Target["client"]>;
    let name = "";

    before(async () => {
      for (const statement of blogDdl(schemaName)) await sql.query(statement);
    });
    after(() => sql.query(`drop schema "${schemaName}" cascade`));

    /** A fresh pool and database for one test; checked and closed after it. */
    function open() {
      name = uniqueName(PREFIX);
      pool = new ConnectionPool({ driver: target.driver(name), maxOpenConns: 3 });
      client = target.client(pool);
      return drizzle(client, { schema });
    }

    afterEach(async () => {
      await assertNoLeaks(pool, { admin: sql, applicationName: name });
      await (client.close ? client.close() : pool.close());
      await sql.query(`truncate "${schemaName}".posts, "${schemaName}".users restart identity`);
    });

    it("inserts, selects, updates and deletes rows", TEST, async () => {
      const db = open();
      const inserted = await db.insert(users).values([{ name: "Ada" }, { name: "Grace" }])
        .returning();
      assert.deepEqual(inserted.map((user) => [user.id, user.name]), [[1, "Ada"], [2, "Grace"]]);
      assert.ok(inserted[0].createdAt instanceof Date, "timestamptz as a Date");
      await db.update(users).set({ name: "Ada Lovelace" }).where(eq(users.id, 1));
      await db.delete(users).where(eq(users.name, "Grace"));
      const left = await db.select({ id: users.id, name: users.name }).from(users);
      assert.deepEqual(left, [{ id: 1, name: "Ada Lovelace" }]);
      const rows = await db.execute<{ n: number }>(
        drizzleSql`select count(*)::int as n from ${users}`,
      );
      assert.deepEqual(rows, [{ n: 1 }]);
    });

    it("loads users with their posts through a relational query", TEST, async () => {
      const db = open();
      const [ada, grace] = await db.insert(users).values([{ name: "Ada" }, { name: "Grace" }])
        .returning({ id: users.id });
      await db.insert(posts).values([
        { authorId: ada.id, title: "Notes" },
        { authorId: ada.id, title: "Engines" },
        { authorId: grace.id, title: "Compilers" },
      ]);
      const found = await db.query.users.findMany({
        columns: { name: true },
        with: { posts: { columns: { title: true }, orderBy: [asc(posts.title)] } },
        orderBy: [asc(users.name)],
      });
      assert.deepEqual(found, [
        { name: "Ada", posts: [{ title: "Engines" }, { title: "Notes" }] },
        { name: "Grace", posts: [{ title: "Compilers" }] },
      ]);
      const post = await db.query.posts.findFirst({
        where: eq(posts.title, "Compilers"),
        with: { author: true },
      });
      assert.equal(post?.author.name, "Grace");
    });

    it("keeps every column of a join whose tables share column names", TEST, async () => {
      const db = open();
      await db.insert(users).values([{ name: "Ada" }, { name: "Grace" }, { name: "Edsger" }]);
      // Post ids 1 and 2 belong to users 3 and 2: no id equals another by chance.
      await db.insert(posts).values([
        { authorId: 3, title: "Goto" },
        { authorId: 2, title: "Compilers" },
      ]);
      const joined = await db.select().from(users).innerJoin(posts, eq(posts.authorId, users.id))
        .orderBy(asc(posts.id));
      assert.deepEqual(
        joined.map((row) => [row.users.id, row.users.name, row.posts.id, row.posts.title]),
        [[3, "Edsger", 1, "Goto"], [2, "Grace", 2, "Compilers"]],
      );
      const picked = await db.select({ userId: users.id, postId: posts.id }).from(posts)
        .innerJoin(users, eq(posts.authorId, users.id)).orderBy(asc(posts.id));
      assert.deepEqual(picked, [{ userId: 3, postId: 1 }, { userId: 2, postId: 2 }]);
      const left = await db.select().from(users).leftJoin(posts, eq(posts.authorId, users.id))
        .where(eq(users.name, "Ada"));
      assert.equal(left[0].users.id, 1);
      assert.equal(left[0].posts, null, "no post: null, not an object of nulls");
      const author = alias(users, "author");
      const selfJoined = await db.select({ a: users.name, b: author.name }).from(users)
        .innerJoin(author, eq(author.id, users.id)).where(eq(users.id, 2));
      assert.deepEqual(selfJoined, [{ a: "Grace", b: "Grace" }]);
    });

    it("keeps same-named columns returned by an update or locked by a select", TEST, async () => {
      const db = open();
      await db.insert(users).values([{ name: "Ada" }, { name: "Grace" }]);
      await db.insert(posts).values({ authorId: 2, title: "Draft" });
      const updated = await db.update(posts).set({ title: "Compilers" }).from(users)
        .where(eq(posts.authorId, users.id)).returning({ postId: posts.id, userId: users.id });
      assert.deepEqual(updated, [{ postId: 1, userId: 2 }]);
      const locked = await db.transaction((tx) =>
        tx.select({ postId: posts.id, userId: users.id }).from(posts)
          .innerJoin(users, eq(posts.authorId, users.id)).for("update")
      );
      assert.deepEqual(locked, [{ postId: 1, userId: 2 }]);
    });

    it("commits a transaction whose statements all ran on one backend", TEST, async () => {
      const db = open();
      const before = pool.getMetrics().acquireCount;
      const pids = await db.transaction(async (tx) => {
        const seen: unknown[] = [];
        const pid = drizzleSql`select pg_backend_pid() as pid`;
        seen.push((await tx.execute<{ pid: number }>(pid))[0].pid);
        const [ada] = await tx.insert(users).values({ name: "Ada" }).returning();
        seen.push((await tx.execute<{ pid: number }>(pid))[0].pid);
        await tx.insert(posts).values({ authorId: ada.id, title: "Notes" });
        seen.push((await tx.execute<{ pid: number }>(pid))[0].pid);
        return seen;
      });
      assert.equal(new Set(pids).size, 1, `one backend: ${pids}`);
      assert.equal(pool.getMetrics().acquireCount - before, 1, "one connection for it all");
      assert.equal((await db.select().from(posts)).length, 1);
    });

    it("rolls a transaction back when its callback throws", TEST, async () => {
      const db = open();
      const failure = new Error("changed my mind");
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.insert(users).values({ name: "Ada" });
          throw failure;
        }),
        (error) => error === failure,
      );
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.insert(users).values({ name: "Grace" });
          tx.rollback();
        }),
        TransactionRollbackError,
      );
      assert.deepEqual(await db.select().from(users), []);
    });

    it("makes a nested transaction a savepoint, rolled back alone", TEST, async () => {
      const db = open();
      await db.transaction(async (tx) => {
        await tx.insert(users).values({ name: "Ada" });
        await assert.rejects(
          tx.transaction(async (nested) => {
            await nested.insert(users).values({ name: "Grace" });
            throw new Error("not Grace");
          }),
          /not Grace/,
        );
        await tx.transaction(async (nested) => {
          await nested.insert(users).values({ name: "Edsger" });
        });
      });
      const names = await db.select({ name: users.name }).from(users).orderBy(asc(users.name));
      assert.deepEqual(names.map((row) => row.name), ["Ada", "Edsger"]);
    });

    it("begins a transaction with Drizzle's isolation level and access mode", TEST, async () => {
      const db = open();
      const modes = await db.transaction(async (tx) => {
        const [row] = await tx.execute<{ level: string; readOnly: string }>(
          drizzleSql`select current_setting('transaction_isolation') as level,
            current_setting('transaction_read_only') as "readOnly"`,
        );
        return row;
      }, { isolationLevel: "serializable", accessMode: "read only" });
      assert.deepEqual(modes, { level: "serializable", readOnly: "on" });
    });

    it("rejects a duplicate with the server's SQLSTATE 23505 in the cause", TEST, async () => {
      const db = open();
      await db.insert(users).values({ name: "Ada" });
      const error = await db.insert(users).values({ name: "Ada" }).then(
        () => assert.fail("a second Ada was inserted"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof DrizzleQueryError, `Drizzle's error, got ${error}`);
      assert.equal((error.cause as { code?: unknown }).code, "23505");
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.insert(users).values({ name: "Ada" });
        }),
        (error: unknown) => (error as { cause?: { code?: unknown } }).cause?.code === "23505",
      );
    });

    it("stores JSON values as JSON, not as JSON strings", TEST, async () => {
      const db = open();
      const profiles = [{ langs: ["en", "fr"] }, [1, "two"], "plain", 42];
      await db.insert(users).values(profiles.map((profile, i) => ({ name: `u${i}`, profile })));
      const stored = await sql.query<{ type: string }>(
        `select jsonb_typeof(profile) as type from "${schemaName}".users order by id`,
      );
      assert.deepEqual(stored.map((row) => row.type), ["object", "array", "string", "number"]);
      const read = await db.select({ profile: users.profile }).from(users).orderBy(asc(users.id));
      assert.deepEqual(read.map((row) => row.profile), profiles);
      const [first] = await db.select({ lang: drizzleSql<string>`${users.profile}->'langs'->>0` })
        .from(users).where(eq(users.profile, { langs: ["en", "fr"] }));
      assert.equal(first.lang, "en");
    });

    it("counts its statements in the pool's metrics", TEST, async () => {
      const db = open();
      const before = pool.getMetrics().acquireCount;
      await db.insert(users).values({ name: "Ada" });
      await db.select().from(users);
      await db.query.users.findMany({ with: { posts: true } });
      await db.transaction(async (tx) => {
        await tx.select().from(users);
        await tx.select().from(posts);
      });
      assert.equal(pool.getMetrics().acquireCount - before, 4, "three statements, one transaction");
    });
  });
}
