/**
 * The types of the Drizzle integration: what `drizzle()` runs statements
 * on, and the database it returns.
 *
 * @module
 */

import type { PgDatabase } from "drizzle-orm/pg-core";
import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import type { Transaction, TransactionOptions } from "../transaction.ts";

/**
 * What a Drizzle database runs its statements on: a `ConnectionPool`, a
 * `ClusterPool` (statements and transactions go to the primary; a
 * transaction with `accessMode: "read only"` to a replica) or a
 * `ClusterSession`. Each statement outside a transaction takes a
 * connection for itself alone; `db.transaction()` holds one connection
 * from `BEGIN` to `COMMIT` or `ROLLBACK`.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import type { DrizzlePool } from "@x/pool/drizzle";
 *
 * const pool: DrizzlePool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * ```
 */
export interface DrizzlePool {
  /** Runs one statement on a connection of its own, as `ConnectionPool.execute`. */
  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>>;
  /** Runs `fn` in a transaction on one connection, as `ConnectionPool.transaction`. */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
}

/**
 * What `db.execute()` resolves with on a {@linkcode PoolDatabase}: the rows,
 * as objects keyed by column name.
 *
 * @example
 * ```ts
 * import { sql } from "drizzle-orm";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { drizzle } from "@x/pool/drizzle";
 *
 * const db = drizzle(new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) }));
 * const rows = await db.execute<{ n: number }>(sql`select 1 as n`);
 * console.log(rows[0].n); // 1
 * ```
 */
export interface PoolQueryResultHKT {
  /** Drizzle's mark of a query result kind (its `PgQueryResultHKT`). */
  readonly $brand: "PgQueryResultHKT";
  /** The row type Drizzle fills in. */
  readonly row: unknown;
  /** The rows of `db.execute()`. */
  type: (this["row"] extends Record<string, unknown> ? this["row"] : Record<string, unknown>)[];
}

/**
 * A Drizzle database over a pool, as `drizzle()` returns it: Drizzle's
 * query builders, relational queries (with a schema) and transactions, plus
 * the pool it runs on as `$client`.
 *
 * @example
 * ```ts
 * import { pgTable, serial, text } from "drizzle-orm/pg-core";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { drizzle, type PoolDatabase } from "@x/pool/drizzle";
 *
 * const users = pgTable("users", { id: serial("id").primaryKey(), name: text("name").notNull() });
 * const schema = { users };
 * const db: PoolDatabase<typeof schema> = drizzle(
 *   new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) }),
 *   { schema },
 * );
 * const everyone = await db.query.users.findMany();
 * ```
 */
export type PoolDatabase<TSchema extends Record<string, unknown> = Record<string, never>> =
  & PgDatabase<PoolQueryResultHKT, TSchema>
  & {
    /** The pool the database runs on. */
    $client: DrizzlePool;
  };
