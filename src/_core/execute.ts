import type { ExecuteOptions, PoolConnection } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import type { PoolCore } from "./core.ts";
import { checkStatement } from "./lent_connection.ts";
import { checkSignal } from "./options.ts";
import { executePipelined } from "./pipelining.ts";
import { checkIdempotent, retryStatement } from "./retry.ts";
import { changesSession } from "./session_state.ts";

/** How `pool.execute` gets a connection of its own: `pool.getConnection`. */
export type GetConnection = (options?: { signal?: AbortSignal }) => Promise<PoolConnection>;

/**
 * `pool.execute`: one statement, pipelined when it may be, else on a
 * connection of its own; a statement never sent (or, with `idempotent`, one
 * whose connection died under it) runs again on another connection.
 */
export function executeStatement<Row>(
  core: PoolCore,
  getConnection: GetConnection,
  text: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
): Promise<QueryResult<Row>> {
  let idempotent: boolean;
  try {
    idempotent = checkIdempotent(options);
  } catch (error) {
    return Promise.reject(error);
  }
  const run = () => executeOnce<Row>(core, getConnection, text, params, options);
  return run().catch((error) => retryStatement(core, run, error, idempotent, options?.signal));
}

/** One attempt of `execute`. */
function executeOnce<Row>(
  core: PoolCore,
  getConnection: GetConnection,
  text: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
): Promise<QueryResult<Row>> {
  if (
    core.pipelines === undefined || core.closing || typeof text !== "string" ||
    core.options.driver.pipelinable?.(text) !== true ||
    // Another statement sharing the connection would see the change.
    changesSession(text)
  ) return executeAlone(getConnection, text, params, options);
  const signal = options?.signal;
  let timeout: number;
  try {
    timeout = checkStatement(text, params, options);
    checkSignal("Cannot execute", signal);
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  return executePipelined(core, text, params, signal, timeout) as Promise<QueryResult<Row>>;
}

/** Runs one statement on a connection of its own, then releases it. */
async function executeAlone<Row>(
  getConnection: GetConnection,
  text: string,
  params: readonly unknown[],
  options: ExecuteOptions | undefined,
): Promise<QueryResult<Row>> {
  // The timeout is the statement's alone; the wait for a connection has its own.
  const connection = await getConnection({ signal: options?.signal });
  try {
    return await connection.execute<Row>(text, params, options);
  } finally {
    connection.release();
  }
}
