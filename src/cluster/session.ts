import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import type { Transaction, TransactionOptions } from "../transaction.ts";

/**
 * A caller's view of a cluster whose reads see its own writes: for
 * `readYourWritesWindow` milliseconds after a write through the session
 * ends, the session's reads go to the primary. Get one per request or unit
 * of work from `ClusterPool.session()`; it costs one object.
 *
 * @example
 * ```ts
 * import { ClusterPool } from "@x/pool/cluster";
 *
 * declare const cluster: ClusterPool;
 * const session = cluster.session();
 * await session.execute("update users set name = $1 where id = $2", ["Ada", 1]);
 * const { rows } = await session.executeRead("select name from users where id = $1", [1]); // from the primary
 * ```
 */
export interface ClusterSession {
  /** Runs one statement on the primary, as a write; see `ClusterPool.execute`. */
  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>>;
  /** Runs one read: on the primary within the window after this session's last write, else as `ClusterPool.executeRead`. */
  executeRead<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>>;
  /** As `ClusterPool.beginTx`; a read-only one follows the window, and a writing one's end counts as a write. */
  beginTx(options?: TransactionOptions): Promise<Transaction>;
  /** As `ClusterPool.transaction`, with the same rules as `beginTx`. */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: TransactionOptions): Promise<T>;
  /** Whether this session's reads go to the primary now, because it wrote within the window. */
  readonly readsFromPrimary: boolean;
}
