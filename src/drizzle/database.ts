/**
 * `drizzle()`: a Drizzle database over a pool.
 *
 * @module
 */

import {
  createTableRelationsHelpers,
  DefaultLogger,
  type DrizzleConfig,
  extractTablesRelationalConfig,
  type Logger,
  NoopLogger,
  type RelationalSchemaConfig,
  type TablesRelationalConfig,
} from "drizzle-orm";
import { PgDatabase, PgDialect } from "drizzle-orm/pg-core";
import type { DrizzlePool, PoolDatabase } from "./types.ts";
import { PoolSession } from "./_session.ts";

/**
 * A Drizzle database whose statements run on `pool`: select, insert,
 * update and delete, relational queries (`db.query.users.findMany({ with })`)
 * with a `schema`, and `db.transaction()` on one pooled connection, with
 * nested transactions as savepoints. Drizzle's `config` applies as it does
 * to its own drivers: `schema`, `logger`, `casing` and `cache`.
 *
 * Values come back as the pool's driver parses them: `timestamp`,
 * `timestamptz` and `date` columns as `Date` objects (a `timestamp` without
 * time zone read in the process's local time zone), which Drizzle's
 * `mode: "string"` columns turn back into text. A failed statement rejects
 * with Drizzle's `DrizzleQueryError`, whose `cause` is the driver's error
 * with PostgreSQL's SQLSTATE in `code`.
 *
 * @param pool A `ConnectionPool`, a `ClusterPool` or a `ClusterSession`.
 * @param config Drizzle's options; `schema` enables `db.query`.
 * @returns The database; `db.$client` is `pool`.
 *
 * @example
 * ```ts
 * import { eq, relations } from "drizzle-orm";
 * import { integer, pgTable, serial, text } from "drizzle-orm/pg-core";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { drizzle } from "@x/pool/drizzle";
 *
 * const users = pgTable("users", { id: serial("id").primaryKey(), name: text("name").notNull() });
 * const posts = pgTable("posts", {
 *   id: serial("id").primaryKey(),
 *   authorId: integer("author_id").notNull().references(() => users.id),
 *   title: text("title").notNull(),
 * });
 * const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }));
 * const postsRelations = relations(posts, ({ one }) => ({
 *   author: one(users, { fields: [posts.authorId], references: [users.id] }),
 * }));
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const db = drizzle(pool, { schema: { users, posts, usersRelations, postsRelations } });
 * await db.transaction(async (tx) => {
 *   const [ada] = await tx.insert(users).values({ name: "Ada" }).returning();
 *   await tx.insert(posts).values({ authorId: ada.id, title: "Notes" });
 * });
 * const withPosts = await db.query.users.findMany({ with: { posts: true } });
 * const [ada] = await db.select().from(users).where(eq(users.name, "Ada"));
 * ```
 */
export function drizzle<TSchema extends Record<string, unknown> = Record<string, never>>(
  pool: DrizzlePool,
  config: DrizzleConfig<TSchema> = {},
): PoolDatabase<TSchema> {
  if (typeof pool?.execute !== "function" || typeof pool.transaction !== "function") {
    throw new TypeError(
      `Cannot create the Drizzle database: pool must have execute() and transaction(), got ${
        pool === null ? "null" : typeof pool
      }`,
    );
  }
  const dialect = new PgDialect({ casing: config.casing });
  const schema = relationalSchema(config.schema);
  const session = new PoolSession(pool, pool, dialect, schema, {
    logger: logger(config.logger),
    cache: config.cache,
  });
  const db = new PgDatabase(dialect, session, schema) as PoolDatabase<TSchema>;
  db.$client = pool;
  const cache = config.cache;
  if (cache !== undefined) db.$cache = { invalidate: (tables) => cache.onMutate(tables) };
  return db;
}

function logger(option: boolean | Logger | undefined): Logger {
  if (option === true) return new DefaultLogger();
  return option === false || option === undefined ? new NoopLogger() : option;
}

/** The tables and relations of `schema`, as Drizzle's relational queries read them. */
function relationalSchema(
  schema: Record<string, unknown> | undefined,
): RelationalSchemaConfig<TablesRelationalConfig> | undefined {
  if (schema === undefined) return undefined;
  const { tables, tableNamesMap } = extractTablesRelationalConfig(
    schema,
    createTableRelationsHelpers,
  );
  return { fullSchema: schema, schema: tables, tableNamesMap };
}
