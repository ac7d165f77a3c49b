/**
 * The handle a caller holds while it has a connection from the pool.
 *
 * @module
 */

import type { QueryResult } from "./driver.ts";
import type { SqlResult } from "./sql.ts";

/**
 * Options for one statement.
 *
 * @example Cancelling a slow statement after 2 s
 * ```ts
 * import type { ExecuteOptions } from "@x/pool";
 *
 * const options: ExecuteOptions = { signal: AbortSignal.timeout(2_000) };
 * ```
 */
export interface ExecuteOptions {
  /**
   * Cancels the statement when it aborts: the server is asked to stop it,
   * and the call rejects with the signal's reason. On `pool.execute` it also
   * ends the wait for a connection.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds the statement may run before it is cancelled on the server
   * and the call rejects with `QueryTimeoutError`. On `pool.execute` it
   * bounds the statement only; the wait for a connection is bounded by
   * `acquireTimeout` (and `signal`). 0 means no limit. Default 0.
   */
  timeout?: number;
  /**
   * On `pool.execute` only: the statement may run twice, so when its
   * connection dies while it runs (the outcome unknown), it is retried on
   * another connection, as one that was never sent always is. Default false.
   */
  idempotent?: boolean;
}

/**
 * A connection lent by the pool. Give it back with `release()`, or let
 * `await using` do it.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 *
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * {
 *   await using conn = await pool.getConnection();
 *   const { rows } = await conn.execute("select $1::int as n", [1]);
 *   console.log(rows[0].n); // 1
 * } // released here
 * await pool.close();
 * ```
 */
export interface PoolConnection extends AsyncDisposable {
  /**
   * Runs one statement with positional parameters (`$1`, `$2`, ...).
   *
   * @param text The SQL text.
   * @param params The values of `$1`, `$2`, ...; default none.
   * @param options A signal to cancel the statement, and a timeout.
   * @returns The rows, the row count and the command tag.
   * @throws {ConnectionReleasedError} After `release()`.
   * @throws {QueryTimeoutError} When `timeout` ran out.
   */
  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>>;
  /**
   * Runs a tagged template as one statement: each `${value}` becomes a
   * parameter, each fragment from `sql` is spliced in; see `docs/sql.md`.
   *
   * @returns The rows, carrying `rowCount` and `command`.
   * @throws {ConnectionReleasedError} After `release()`.
   * @throws {TypeError} A value refused as by `sql`, or a call that is not a tagged template.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * await using conn = await pool.getConnection();
   * const { rowCount } = await conn.sql`update users set seen = now() where id = ${1}`;
   * ```
   */
  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>>;
  /**
   * Gives the connection back to the pool. A connection left inside a
   * transaction is rolled back first, or closed. Calling it again does
   * nothing.
   */
  release(): void;
  /** Whether `release()` has been called. */
  readonly released: boolean;
}
