/**
 * Transactions over a pooled connection: `BEGIN` with its modes, then
 * `COMMIT` or `ROLLBACK`, then the connection goes back to the pool.
 *
 * @module
 */

import type { ExecuteOptions } from "./connection.ts";
import type { QueryResult } from "./driver.ts";
import type { SqlResult } from "./sql.ts";

/**
 * PostgreSQL's isolation levels.
 *
 * @example
 * ```ts
 * import type { IsolationLevel } from "@x/pool";
 *
 * const level: IsolationLevel = "serializable";
 * ```
 */
export type IsolationLevel =
  | "read uncommitted"
  | "read committed"
  | "repeatable read"
  | "serializable";

/**
 * How a transaction starts. Modes left out take the server's defaults.
 *
 * @example A read-only snapshot
 * ```ts
 * import type { TransactionOptions } from "@x/pool";
 *
 * const options: TransactionOptions = {
 *   isolationLevel: "repeatable read",
 *   readOnly: true,
 *   signal: AbortSignal.timeout(5_000),
 * };
 * ```
 */
export interface TransactionOptions {
  /** The isolation level. Default: the server's (`read committed`). */
  isolationLevel?: IsolationLevel;
  /** Reject every write in the transaction. Default false. */
  readOnly?: boolean;
  /**
   * With `serializable` and `readOnly`, wait for a snapshot that cannot
   * fail with a serialization error. Default false.
   */
  deferrable?: boolean;
  /** Ends the wait for a connection, or cancels `BEGIN`, when it aborts. */
  signal?: AbortSignal;
  /**
   * On `pool.transaction` only: how many more times to run its work, on a
   * new transaction, after a serialization failure (40001), a deadlock
   * (40P01), or the loss of the connection before `COMMIT` was sent. Each
   * retry waits a jittered backoff: up to 10 ms, doubling, at most 1 s.
   * `ClusterPool.transaction` honours it too; a read-only transaction's
   * retry runs on a replica chosen anew. Default 0.
   */
  retries?: number;
}

/**
 * An open transaction on one pooled connection. End it with `commit()` or
 * `rollback()`; either gives the connection back to the pool. With
 * `await using`, a transaction left open is rolled back.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 *
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * await using tx = await pool.beginTx({ isolationLevel: "serializable" });
 * await tx.execute("update accounts set balance = balance - $1 where id = $2", [10, 1]);
 * await tx.execute("update accounts set balance = balance + $1 where id = $2", [10, 2]);
 * await tx.commit();
 * ```
 */
export interface Transaction extends AsyncDisposable {
  /**
   * Runs one statement inside the transaction.
   *
   * @throws {TransactionFinishedError} After `commit()` or `rollback()`.
   */
  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>>;
  /**
   * Runs a tagged template as one statement inside the transaction: each
   * `${value}` becomes a parameter, each fragment from `sql` is spliced in;
   * see `docs/sql.md`.
   *
   * @returns The rows, carrying `rowCount` and `command`.
   * @throws {TransactionFinishedError} After `commit()` or `rollback()`.
   * @throws {TypeError} A value refused as by `sql`, or a call that is not a tagged template.
   *
   * @example
   * ```ts
   * import { ConnectionPool, postgresDriver } from "@x/pool";
   *
   * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
   * await pool.transaction(async (tx) => {
   *   await tx.sql`update accounts set balance = balance - ${10} where id = ${1}`;
   *   await tx.sql`update accounts set balance = balance + ${10} where id = ${2}`;
   * });
   * ```
   */
  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>>;
  /**
   * Commits, then releases the connection.
   *
   * @throws {TransactionRolledBackError} When the server rolled back instead,
   * because a statement in the transaction had failed.
   * @throws {TransactionFinishedError} When the transaction already ended.
   */
  commit(): Promise<void>;
  /**
   * Rolls back, then releases the connection.
   *
   * @throws {TransactionFinishedError} When the transaction already ended.
   */
  rollback(): Promise<void>;
  /**
   * `"open"` until `commit()` or `rollback()` is called. A `commit()` that
   * fails leaves `"rolled back"`: the server rolled back, or the connection
   * was lost before the outcome was known.
   */
  readonly status: "open" | "committed" | "rolled back";
}
