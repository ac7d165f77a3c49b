import {
  type AbortableOperationOptions,
  AbortedTransactionError,
  type DatabaseConnection,
  type Driver,
  type TransactionSettings,
} from "kysely";
import { beginStatement } from "../_core/open_transaction.ts";
import type { ConnectionPool } from "../pool.ts";
import type { IsolationLevel } from "../transaction.ts";
import { KyselyConnection } from "./_connection.ts";

/**
 * Kysely's driver over a pool: each `acquireConnection` takes a connection
 * of the pool's, so a transaction or `db.connection()` runs on one session.
 */
export class PoolDriver implements Driver {
  readonly #pool: ConnectionPool;
  readonly #closePool: boolean;

  constructor(pool: ConnectionPool, closePool: boolean) {
    this.#pool = pool;
    this.#closePool = closePool;
  }

  init(): Promise<void> {
    return Promise.resolve();
  }

  async acquireConnection(options?: AbortableOperationOptions): Promise<DatabaseConnection> {
    // The signal also ends the pool's wait, so an aborted query holds no place in its queue.
    const signal = options?.signal;
    return new KyselyConnection(await this.#pool.getConnection(signal ? { signal } : undefined));
  }

  async beginTransaction(
    connection: DatabaseConnection,
    { isolationLevel, accessMode }: TransactionSettings,
  ): Promise<void> {
    const kysely = connection as KyselyConnection;
    // Kysely's levels include SQL Server's "snapshot", which the builder refuses by name.
    const statement = beginStatement({
      isolationLevel: isolationLevel as IsolationLevel | undefined,
      readOnly: accessMode === undefined ? undefined : accessMode === "read only",
    });
    await kysely.connection.execute(statement);
    kysely.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const kysely = connection as KyselyConnection;
    kysely.inTransaction = false;
    const { command } = await kysely.connection.execute("commit");
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
    if (command === "ROLLBACK") throw new AbortedTransactionError();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const kysely = connection as KyselyConnection;
    kysely.inTransaction = false;
    await kysely.connection.execute("rollback");
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KyselyConnection).connection.execute(`savepoint ${identifier(name)}`);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KyselyConnection).connection.execute(
      `rollback to savepoint ${identifier(name)}`,
    );
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KyselyConnection).connection.execute(
      `release savepoint ${identifier(name)}`,
    );
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    // A session left in a transaction is rolled back (or closed) by the pool.
    (connection as KyselyConnection).connection.release();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    if (this.#closePool) await this.#pool.close();
  }
}

/** `name` as a quoted SQL identifier, whatever characters it holds. */
function identifier(name: string): string {
  if (typeof name !== "string" || name === "" || name.includes("\0")) {
    throw new TypeError(
      `Cannot use savepoint: name must be a non-empty string without NUL, got ${
        JSON.stringify(name)
      }`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
}
