/**
 * Drizzle ORM over the pool: {@linkcode drizzle} returns a Drizzle database
 * whose statements run on a `ConnectionPool` (or a `ClusterPool`), with
 * transactions held on one pooled connection. Needs the `drizzle-orm`
 * package (0.45), a peer dependency that the rest of `@x/pool` never loads.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from "drizzle-orm/pg-core";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { drizzle } from "@x/pool/drizzle";
 *
 * const users = pgTable("users", { id: serial("id").primaryKey(), name: text("name").notNull() });
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const db = drizzle(pool, { schema: { users } });
 * await db.insert(users).values({ name: "Ada" });
 * console.log(await db.query.users.findMany(), pool.getMetrics().inUse);
 * ```
 *
 * @module
 */

export { drizzle } from "./database.ts";
export type { DrizzlePool, PoolDatabase, PoolQueryResultHKT } from "./types.ts";
