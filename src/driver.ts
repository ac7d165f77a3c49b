/**
 * The contract between the pool and a database client. The pool core knows
 * nothing of any database beyond this file: a driver opens connections, and a
 * connection runs queries, answers pings, reports whether it holds session
 * state, and says when it has died.
 *
 * @module
 */

/**
 * The outcome of one statement.
 *
 * @example Reading a result
 * ```ts
 * import type { QueryResult } from "@x/pool";
 *
 * const result: QueryResult = { rows: [{ n: 1 }], rowCount: 1, command: "SELECT" };
 * console.log(result.rows[0].n); // 1
 * ```
 */
export interface QueryResult<Row = Record<string, unknown>> {
  /** The rows the statement returned, as plain objects keyed by column name. */
  rows: Row[];
  /** The number of rows returned or affected, as the server reported it. */
  rowCount: number;
  /** The command tag's verb, such as `"SELECT"`, `"INSERT"` or `"BEGIN"`. */
  command: string;
}

/**
 * One open connection to the database, owned by the pool.
 *
 * A driver connection never reconnects by itself: once it has closed, every
 * call rejects, and the pool replaces it.
 *
 * @example A minimal in-memory connection
 * ```ts
 * import type { DriverConnection, QueryResult } from "@x/pool";
 *
 * class EchoConnection implements DriverConnection {
 *   closed = false;
 *   dirty = false;
 *   #onClose?: (error?: unknown) => void;
 *   query(text: string): Promise<QueryResult> {
 *     return Promise.resolve({ rows: [{ text }], rowCount: 1, command: "SELECT" });
 *   }
 *   ping(): Promise<void> {
 *     return Promise.resolve();
 *   }
 *   reset(): Promise<void> {
 *     return Promise.resolve();
 *   }
 *   onClose(listener: (error?: unknown) => void): void {
 *     this.#onClose = listener;
 *   }
 *   close(): Promise<void> {
 *     this.closed = true;
 *     this.#onClose?.();
 *     return Promise.resolve();
 *   }
 * }
 * ```
 */
export interface DriverConnection {
  /**
   * Runs one statement with positional parameters (`$1`, `$2`, ...).
   *
   * When `signal` aborts while the statement runs, the driver asks the
   * server to cancel it and rejects with the signal's reason.
   */
  query(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult>;
  /**
   * Runs one autocommit statement that may share the connection with others
   * sent the same way and still in flight (pipelining): it is sent at once,
   * behind them, with a synchronisation point of its own, so its failure
   * fails no other statement. Called only for statements
   * `Driver.pipelinable` accepted, and only while no other call (`query`,
   * `ping`, `reset`) is in flight.
   *
   * When `signal` aborts, the call rejects with its reason at once; the
   * driver asks the server to cancel the statement only while nothing else
   * is in flight on the connection, as a cancel request stops whatever the
   * session runs when it arrives. Otherwise the statement runs to its end
   * and its result is dropped. Optional; implement it together with
   * `Driver.pipelinable`.
   */
  pipeline?(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult>;
  /** Makes one round trip to prove the connection works. */
  ping(signal?: AbortSignal): Promise<void>;
  /**
   * True while the session holds state the next user must not inherit: an
   * open or failed transaction, or a statement still running. Read on every
   * release, so it must be a cheap field, not a round trip.
   */
  readonly dirty: boolean;
  /**
   * Brings a dirty session back to a clean one (for PostgreSQL: rolls back
   * the open transaction). Rejects when it cannot; the pool then closes the
   * connection instead of reusing it.
   */
  reset(signal?: AbortSignal): Promise<void>;
  /**
   * Clears every trace a user can leave in the session, on top of what
   * `reset` does: settings, temporary tables, cursors, listeners, advisory
   * locks. Called on every release when the pool's `resetSession` is on.
   * Optional; without it the pool calls `reset`. Rejects when it cannot; the
   * pool then closes the connection.
   */
  discard?(signal?: AbortSignal): Promise<void>;
  /** True once the connection has closed, for whatever reason. */
  readonly closed: boolean;
  /**
   * Registers the one listener told when the connection closes: by `close()`,
   * by the server, or by a network failure (then with the error). Called at
   * most once; if the connection has already closed, it is called in a
   * microtask.
   */
  onClose(listener: (error?: unknown) => void): void;
  /** Closes the connection. Resolves when its socket is gone; never rejects. */
  close(): Promise<void>;
}

/**
 * Opens connections for a pool.
 *
 * @example A driver that opens in-memory connections
 * ```ts
 * import type { Driver, DriverConnection } from "@x/pool";
 *
 * declare function openEcho(): DriverConnection;
 *
 * const driver: Driver = {
 *   connect(signal) {
 *     signal.throwIfAborted();
 *     return Promise.resolve(openEcho());
 *   },
 * };
 * ```
 */
export interface Driver {
  /**
   * Opens one connection, ready for queries. When `signal` aborts before the
   * connection is ready, the driver gives up, closes whatever it opened and
   * rejects with the signal's reason.
   */
  connect(signal: AbortSignal): Promise<DriverConnection>;
  /**
   * Whether a failed connect is worth trying again: true for a server that
   * is unreachable, starting up or full, false for a failure that repeating
   * cannot fix, such as a bad password or a missing database. Optional;
   * without it every failure is retried.
   */
  canRetryConnect?(error: unknown): boolean;
  /**
   * What an error says about the whole server rather than one connection:
   * `"serverGone"` when it is shutting down, crashed, or not accepting
   * sessions for now; `"readOnly"` when it refused a write for being
   * read-only. The pool then retires every connection (see the pool option
   * `resetOnReadOnly`). Optional; without it, errors concern one connection.
   */
  classifyError?(error: unknown): ServerErrorKind | undefined;
  /**
   * Whether an error rolled back the whole transaction for a conflict with
   * another one that may not recur when it runs again: for PostgreSQL a
   * serialization failure (40001) or a deadlock (40P01). The pool's
   * `transaction(fn, { retries })` then runs `fn` again. Optional; without
   * it no conflict is retried.
   */
  canRetryTransaction?(error: unknown): boolean;
  /**
   * Whether the statement that failed with `error` never left the client:
   * its connection was found closed before it was written to the socket, so
   * the server cannot have run it. `pool.execute` then retries it on another
   * connection. Optional; without it no statement counts as unsent.
   */
  neverSent?(error: unknown): boolean;
  /**
   * Whether a statement may share a connection with others in flight
   * (see `DriverConnection.pipeline`): true only for an autocommit
   * statement that cannot open a transaction or change what the statements
   * after it see. Called for every `pool.execute`, so it must be cheap.
   * Optional; without it the pool never pipelines.
   */
  pipelinable?(text: string): boolean;
  /**
   * True when the server sessions behind the driver's connections are shared
   * between clients, one transaction at a time, as behind PgBouncer in
   * transaction mode: no session is a connection's own, so the pool refuses
   * `resetSession`. Optional; default false.
   */
  readonly sharesSessions?: boolean;
}

/**
 * What an error can say about the whole server; see `Driver.classifyError`.
 *
 * @example
 * ```ts
 * import type { ServerErrorKind } from "@x/pool";
 *
 * const kind: ServerErrorKind = "serverGone";
 * ```
 */
export type ServerErrorKind = "serverGone" | "readOnly";
