import type { CompiledQuery, DatabaseConnection, QueryResult } from "kysely";
import type { PoolConnection } from "../connection.ts";

/** The command tags whose row count is the number of rows written. */
const WRITES: ReadonlySet<string> = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

/** Numbers the cursors of streamed queries, so that two on one session never share a name. */
let cursors = 0;

/**
 * One pooled connection as Kysely sees it, for the length of one
 * `acquireConnection`: statements run on it as they are, and errors pass
 * through unchanged.
 */
export class KyselyConnection implements DatabaseConnection {
  readonly connection: PoolConnection;
  /**
   * Whether a transaction Kysely began through the driver is open here; a
   * stream outside one opens its own for the cursor's life.
   */
  inTransaction = false;
  /** Aborts the statement running now, for `cancelQuery`. */
  #running: AbortController | undefined;

  constructor(connection: PoolConnection) {
    this.connection = connection;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const running = new AbortController();
    this.#running = running;
    try {
      const { rows, rowCount, command } = await this.connection.execute<R>(
        compiledQuery.sql,
        compiledQuery.parameters,
        { signal: running.signal },
      );
      return WRITES.has(command) ? { rows, numAffectedRows: BigInt(rowCount) } : { rows };
    } finally {
      if (this.#running === running) this.#running = undefined;
    }
  }

  /**
   * Kysely's `inflightQueryAbortStrategy: "cancel query"`: the driver asks
   * the server to cancel the running statement, as for any aborted
   * `execute`, so no control connection is needed.
   */
  cancelQuery(): Promise<void> {
    this.#running?.abort(new Error("Kysely cancelled the query"));
    return Promise.resolve();
  }

  /**
   * Reads the query's rows `chunkSize` at a time through a server-side
   * cursor. A cursor lives in a transaction: inside Kysely's, it uses that
   * one; outside, it opens one and commits it once the rows are read, or
   * rolls it back when the reader stops early or a statement fails.
   */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(
        `Cannot stream query: chunkSize must be a positive integer, got ${chunkSize}`,
      );
    }
    const ownTransaction = !this.inTransaction;
    const cursor = `"x_pool_stream_${++cursors}"`;
    if (ownTransaction) await this.connection.execute("begin");
    let finished = false;
    try {
      await this.connection.execute(
        `declare ${cursor} no scroll cursor for ${compiledQuery.sql}`,
        compiledQuery.parameters,
      );
      while (true) {
        const { rows } = await this.connection.execute<R>(`fetch ${chunkSize} from ${cursor}`);
        if (rows.length > 0) yield { rows };
        if (rows.length < chunkSize) break;
      }
      await this.connection.execute(`close ${cursor}`);
      if (ownTransaction) await this.connection.execute("commit");
      finished = true;
    } finally {
      if (!finished) {
        // The reader's error or early stop is what the caller sees; a failed
        // clean-up leaves the session dirty, and the pool resets it on release.
        const cleanUp = ownTransaction ? "rollback" : `close ${cursor}`;
        await this.connection.execute(cleanUp).catch(() => {});
      }
    }
  }
}
