import type { ExecuteOptions, PoolConnection } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import { TransactionFinishedError, TransactionRolledBackError } from "../errors.ts";
import type { IsolationLevel, Transaction, TransactionOptions } from "../transaction.ts";
import type { SqlResult } from "../sql.ts";
import { runTemplate } from "./sql_template.ts";

const ISOLATION_LEVELS: ReadonlySet<string> = new Set<IsolationLevel>([
  "read uncommitted",
  "read committed",
  "repeatable read",
  "serializable",
]);

/**
 * Builds the `BEGIN` statement for `options`.
 *
 * @throws {RangeError} An unknown isolation level.
 * @throws {TypeError} `readOnly` or `deferrable` not a boolean.
 */
export function beginStatement(options: TransactionOptions = {}): string {
  const { isolationLevel, readOnly, deferrable } = options;
  const modes: string[] = [];
  if (isolationLevel !== undefined) {
    if (!ISOLATION_LEVELS.has(isolationLevel)) {
      throw new RangeError(
        `Cannot begin transaction: isolationLevel must be one of ${
          [...ISOLATION_LEVELS].map((level) => `"${level}"`).join(", ")
        }, got ${JSON.stringify(isolationLevel)}`,
      );
    }
    modes.push(`isolation level ${isolationLevel}`);
  }
  if (readOnly !== undefined) modes.push(flag("readOnly", readOnly) ? "read only" : "read write");
  if (deferrable !== undefined) {
    modes.push(flag("deferrable", deferrable) ? "deferrable" : "not deferrable");
  }
  return modes.length === 0 ? "begin" : `begin ${modes.join(", ")}`;
}

function flag(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot begin transaction: ${name} must be a boolean, got ${typeof value}`);
  }
  return value;
}

/**
 * Refuses a transaction's work that is not a function, before a connection
 * is taken for it.
 *
 * @throws {TypeError} `fn` not a function.
 */
export function checkTransactionFn(fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(`Cannot run transaction: fn must be a function, got ${typeof fn}`);
  }
}

/**
 * Runs `fn` in the transaction `begin` opens: commits when `fn` returns,
 * rolls back when it throws, and rethrows what it threw. `fn` may commit or
 * roll back by itself.
 *
 * @throws {TypeError} `fn` not a function, before anything begins.
 */
export async function runInTransaction<T>(
  begin: () => Promise<Transaction>,
  fn: (tx: Transaction) => Promise<T> | T,
): Promise<T> {
  checkTransactionFn(fn);
  const tx = await begin();
  let result: T;
  try {
    result = await fn(tx);
  } catch (error) {
    // The caller's error is the one to see; a failed rollback still releases (and closes) the connection.
    if (tx.status === "open") await tx.rollback().catch(() => {});
    throw error;
  }
  if (tx.status === "open") await tx.commit();
  return result;
}

/** A transaction over a connection on which `BEGIN` has already run. */
export class OpenTransaction implements Transaction {
  readonly #connection: PoolConnection;
  #status: Transaction["status"] = "open";
  /** Whether `COMMIT` was handed to the connection: the transaction may have committed. */
  commitSent = false;
  /** What that `COMMIT` failed with, if it did. */
  commitError: unknown;

  constructor(connection: PoolConnection) {
    this.#connection = connection;
  }

  get status(): Transaction["status"] {
    return this.#status;
  }

  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    if (this.#status !== "open") {
      return Promise.reject(new TransactionFinishedError("execute", this.#status));
    }
    return this.#connection.execute<Row>(text, params, options);
  }

  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>> {
    return runTemplate((text, params) => this.execute<Row>(text, params), strings, values);
  }

  async commit(): Promise<void> {
    let command: string;
    try {
      ({ command } = await this.#end("commit", "committed"));
    } catch (error) {
      if (!(error instanceof TransactionFinishedError)) {
        this.#status = "rolled back";
        this.commitError = error;
      }
      throw error;
    }
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
    if (command === "ROLLBACK") {
      this.#status = "rolled back";
      throw new TransactionRolledBackError();
    }
  }

  async rollback(): Promise<void> {
    await this.#end("rollback", "rolled back");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#status === "open") await this.rollback();
  }

  async #end(
    statement: "commit" | "rollback",
    outcome: Transaction["status"],
  ): Promise<QueryResult> {
    if (this.#status !== "open") throw new TransactionFinishedError(statement, this.#status);
    // Set before the round trip, so a second commit() or rollback() is refused at once.
    this.#status = outcome;
    if (statement === "commit") this.commitSent = true;
    try {
      return await this.#connection.execute(statement);
    } finally {
      // A connection left dirty by a failed COMMIT or ROLLBACK is reset or closed by the pool.
      this.#connection.release();
    }
  }
}
