/**
 * A Kysely dialect over a {@linkcode ConnectionPool}.
 *
 * @module
 */

import {
  type DatabaseIntrospector,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
} from "kysely";
import { describe } from "../_core/options.ts";
import { ConnectionPool } from "../pool.ts";
import { PoolDriver } from "./_driver.ts";

/**
 * What {@linkcode PoolDialect} runs over.
 *
 * @example A Kysely that closes its pool on `db.destroy()`
 * ```ts
 * import type { ConnectionPool } from "@x/pool";
 * import type { PoolDialectOptions } from "@x/pool/kysely";
 *
 * declare const pool: ConnectionPool;
 * const options: PoolDialectOptions = { pool, closePool: true };
 * ```
 */
export interface PoolDialectOptions {
  /** The pool whose connections Kysely's queries and transactions run on. */
  pool: ConnectionPool;
  /**
   * Whether `db.destroy()` closes the pool. Default false: the pool is the
   * caller's, may serve other code too, and outlives the Kysely instance.
   */
  closePool?: boolean;
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(["pool", "closePool"]);
const PREFIX = "Cannot create PoolDialect:";

/**
 * Kysely's PostgreSQL dialect over a {@linkcode ConnectionPool}: Kysely's
 * PostgreSQL query compiler, adapter and introspector, with every query,
 * transaction and `db.connection()` on a connection of the pool's, so the
 * pool's limits, timeouts, health checks and metrics cover them.
 *
 * - Each query takes a connection from the pool and gives it back; a
 *   transaction or `db.connection()` keeps one for its length.
 * - `db.transaction().setIsolationLevel(...)` and `.setAccessMode(...)`
 *   become the modes of `BEGIN`. Savepoints of controlled transactions are
 *   supported. A `COMMIT` the server answered with `ROLLBACK` throws
 *   Kysely's `AbortedTransactionError`.
 * - `.stream(chunkSize)` reads through a server-side cursor, `chunkSize`
 *   rows per round trip. Inside a Kysely transaction the cursor lives in it;
 *   outside one, the stream opens a transaction of its own on its
 *   connection, committed once every row is read and rolled back if the
 *   reader stops early. A transaction begun with raw SQL is not seen as
 *   one (the stream's own `COMMIT` would end it): stream inside
 *   `db.transaction()` instead.
 * - Errors pass through unchanged: a server error carries its SQLSTATE in
 *   `code`, and the pool's errors (`AcquireTimeoutError`, ...) are its own.
 * - A query's abort signal also ends its wait for a connection. A statement
 *   already running is left to finish (Kysely's default
 *   `inflightQueryAbortStrategy`, `"ignore query"`), or cancelled on the
 *   server with `"cancel query"`, as the pool cancels an aborted `execute`;
 *   `"kill session"` is not supported.
 * - `db.destroy()` closes the pool only with `closePool: true`.
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
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const db = new Kysely<Database>({ dialect: new PoolDialect({ pool, closePool: true }) });
 * const users = await db.selectFrom("users").selectAll().where("id", "=", 1).execute();
 * console.log(users, pool.getMetrics().acquireCount);
 * await db.destroy(); // closes the pool too
 * ```
 */
export class PoolDialect {
  // Structurally a Kysely `Dialect` (the tests hand it to Kysely), without an
  // `implements` clause, and the `create*` methods only Kysely calls are left
  // out of the documentation: `deno doc --lint` takes Kysely's types for
  // private ones.
  readonly #pool: ConnectionPool;
  readonly #closePool: boolean;

  /**
   * Creates the dialect; nothing connects until Kysely runs a query.
   *
   * @param options The pool, and whether `db.destroy()` closes it.
   * @throws {TypeError} An unknown option, a `pool` that is not a
   * `ConnectionPool`, or a `closePool` that is not a boolean.
   */
  constructor(options: PoolDialectOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`${PREFIX} options must be an object, got ${describe(options)}`);
    }
    for (const name of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(name)) throw new TypeError(`${PREFIX} unknown option "${name}"`);
    }
    const { pool, closePool = false } = options;
    if (!(pool instanceof ConnectionPool)) {
      throw new TypeError(`${PREFIX} pool must be a ConnectionPool, got ${describe(pool)}`);
    }
    if (typeof closePool !== "boolean") {
      throw new TypeError(`${PREFIX} closePool must be a boolean, got ${describe(closePool)}`);
    }
    this.#pool = pool;
    this.#closePool = closePool;
  }

  /**
   * Creates the driver Kysely runs queries through; Kysely calls it.
   *
   * @ignore
   */
  createDriver(): Driver {
    return new PoolDriver(this.#pool, this.#closePool);
  }

  /**
   * Creates Kysely's PostgreSQL query compiler; Kysely calls it.
   *
   * @ignore
   */
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  /**
   * Creates Kysely's PostgreSQL adapter; Kysely calls it.
   *
   * @ignore
   */
  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  /**
   * Creates Kysely's PostgreSQL introspector over `db`; Kysely calls it for
   * `db.introspection`.
   *
   * @ignore
   */
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
