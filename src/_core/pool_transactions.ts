import type { Transaction, TransactionOptions } from "../transaction.ts";
import type { PoolCore } from "./core.ts";
import { beginStatement, OpenTransaction, runInTransaction } from "./open_transaction.ts";
import { type Attempt, checkRetries, retryTransaction } from "./retry.ts";
import type { GetConnection } from "./execute.ts";

/** `pool.beginTx`: a connection of its own, then `BEGIN`; the connection goes back if that fails. */
export async function beginTransaction(
  getConnection: GetConnection,
  options: TransactionOptions | undefined,
): Promise<OpenTransaction> {
  const begin = beginStatement(options);
  const connection = await getConnection({ signal: options?.signal });
  try {
    await connection.execute(begin, [], { signal: options?.signal });
  } catch (error) {
    connection.release();
    throw error;
  }
  return new OpenTransaction(connection);
}

/**
 * `pool.transaction`: `fn` in a transaction of `core`'s pool, run again
 * after a failure that may be retried, up to `options.retries` times.
 * Arguments are checked.
 */
export function runTransaction<T>(
  core: PoolCore,
  getConnection: GetConnection,
  fn: (tx: Transaction) => Promise<T> | T,
  options: TransactionOptions | undefined,
): Promise<T> {
  let retries: number;
  try {
    retries = checkRetries(options?.retries);
  } catch (error) {
    return Promise.reject(error);
  }
  if (retries === 0) return runInTransaction(() => beginTransaction(getConnection, options), fn);
  const begin = async (attempt: Attempt) => {
    attempt.core = core;
    return attempt.tx = await beginTransaction(getConnection, options);
  };
  return retryTransaction(begin, fn, retries, options?.signal);
}
