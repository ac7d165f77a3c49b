/**
 * Kysely over `@x/pool`: {@linkcode PoolDialect} runs Kysely's queries and
 * transactions on a {@linkcode ConnectionPool}'s connections. Needs the
 * `kysely` package (0.29 or later), which the rest of `@x/pool` does not load.
 *
 * @example
 * ```ts
 * import { Kysely } from "kysely";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { PoolDialect } from "@x/pool/kysely";
 *
 * interface Database {
 *   users: { id: number; name: string };
 * }
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const db = new Kysely<Database>({ dialect: new PoolDialect({ pool }) });
 * await db.insertInto("users").values({ id: 1, name: "Ada" }).execute();
 * await db.transaction().setIsolationLevel("serializable").execute(async (trx) => {
 *   await trx.updateTable("users").set({ name: "Grace" }).where("id", "=", 1).execute();
 * });
 * ```
 *
 * @module
 */

export { PoolDialect, type PoolDialectOptions } from "./dialect.ts";
