/**
 * A {@linkcode Driver} for PostgreSQL on top of
 * [postgres.js](https://github.com/porsager/postgres) 3.4. With its
 * `_postgres_*` helpers, the only module that imports `postgres`.
 *
 * Each pooled connection is one postgres.js instance with `max: 1` and no
 * timers of its own, so its single socket lives exactly as long as the pool
 * says, and it never reconnects: once postgres.js reports the socket closed,
 * every call rejects without sending anything.
 *
 * @example
 * ```ts ignore
 * import { postgresDriver } from "@x/pool";
 *
 * const driver = postgresDriver("postgres://app:secret@localhost/app");
 * const connection = await driver.connect(AbortSignal.timeout(10_000));
 * const { rows } = await connection.query("select $1::int + 1 as n", [41]);
 * console.log(rows[0].n); // 42
 * await connection.close();
 * ```
 *
 * @module
 */

import postgres from "postgres";
import type { Driver, DriverConnection, QueryResult } from "../driver.ts";
import {
  type ArrayType,
  arrayTypesFrom,
  FETCH_ARRAY_TYPES,
  installArrayTypes,
} from "./_postgres_arrays.ts";
import { cancelStatement } from "./_postgres_cancel.ts";
import { breaksConnection } from "./_postgres_errors.ts";
import { type Call, NO_PARAMS, SerialConnection } from "./_serial_connection.ts";
import { canRetryConnect, classifyError } from "./_sqlstate.ts";
import { type Options, resolveOptions } from "./_postgres_options.ts";
import { transactionOpenAfter } from "./_transaction_state.ts";

/**
 * Connection options, handed to postgres.js as they are (other postgres.js
 * options, such as `transform` or `socket`, pass through untyped). Times are
 * in **seconds**, as postgres.js counts them.
 *
 * Every connection option is passed to postgres.js explicitly, so it never
 * fills one from a `PG*` environment variable. The exception is
 * `target_session_attrs`, which postgres.js reads from
 * `PGTARGETSESSIONATTRS` when it is not given.
 *
 * The pool owns each connection's lifetime, so the postgres.js options
 * `max`, `idle_timeout`, `max_lifetime`, `fetch_types`, `onclose`, `backoff`
 * and `timeout` are refused.
 *
 * @example
 * ```ts
 * import type { PostgresDriverOptions } from "@x/pool";
 *
 * const options: PostgresDriverOptions = {
 *   host: "db.internal",
 *   username: "app",
 *   password: "secret",
 *   database: "app",
 *   connect_timeout: 5,
 *   connection: { application_name: "api" },
 * };
 * ```
 */
export interface PostgresDriverOptions {
  /** Host name or IP address; a directory for a Unix socket. Default `"localhost"`. */
  host?: string;
  /** TCP port. Default `5432`. */
  port?: number;
  /** Path of a Unix socket, instead of `host` and `port`. */
  path?: string;
  /** Role to log in as. Required, in the URL or here. */
  username?: string;
  /** Password, or a function returning it. Default: none. */
  password?: string | (() => string | Promise<string>);
  /** Database name. Default: the username. */
  database?: string;
  /**
   * TLS: `false` (the default), `"require"`, `"allow"` and `"prefer"` (no
   * certificate check), `"verify-full"` or `true` (checked), or an object of
   * `tls.connect` options.
   */
  ssl?: boolean | "require" | "allow" | "prefer" | "verify-full" | Record<string, unknown>;
  /** Seconds for TCP, TLS and authentication together. Default `30`. */
  connect_timeout?: number;
  /** Seconds of idleness before TCP keep-alive probes; `null` for none. Default `60`. */
  keep_alive?: number | null;
  /**
   * Use named prepared statements, cached per connection: each distinct text
   * is parsed and planned once per connection, then only bound and executed.
   * Default `true`, as in postgres.js, and `false` with `pooler`. Set
   * `false` for SQL text built with varying literals, of which each
   * connection would keep one prepared statement per variant on the server
   * until it closes. With `pooler`, set `true` only in front of PgBouncer
   * 1.21 or later with `max_prepared_statements` above 0, which then
   * prepares each statement on whichever backend runs it.
   */
  prepare?: boolean;
  /**
   * The pooler between the driver and the server, when one shares server
   * sessions between clients: `"transaction"` for PgBouncer in transaction
   * mode (`pool_mode = transaction`) or any pooler that lends a backend for
   * one transaction at a time. Default: none, each connection is a session
   * of its own (as also behind a pooler in session mode).
   *
   * With `"transaction"`:
   * - no named prepared statements (`prepare` defaults to `false`): each
   *   statement is parsed, bound and executed in one exchange on the backend
   *   it reaches;
   * - the pool's `resetSession` is refused, as a session reset would reach
   *   whichever backend the pooler picks, not the one a user changed;
   * - nothing else changes: the driver never pipelines (one statement in
   *   flight per connection, in either mode), a transaction stays on one
   *   backend until `COMMIT` or `ROLLBACK`, and cancel requests go through
   *   the pooler, which forwards them to the backend running the statement.
   *
   * Session state (`SET` outside a transaction, advisory locks, `LISTEN`,
   * temporary tables, `WITH HOLD` cursors) does not follow a connection
   * behind such a pooler: keep it inside a transaction (`SET LOCAL`,
   * `pg_advisory_xact_lock`), or use a direct connection.
   */
  pooler?: "transaction";
  /**
   * Server parameters sent at startup, such as `application_name` (default
   * `"postgres.js"`), `search_path` or `statement_timeout`.
   */
  connection?: Record<string, string | number | boolean>;
  /** With several hosts, which kind of server to use. Default: any. */
  target_session_attrs?: "read-write" | "read-only" | "primary" | "standby" | "prefer-standby";
  /**
   * Called with each notice or warning the server sends, as its fields
   * (`severity`, `code`, `message`, ...). Default: ignored (postgres.js would
   * `console.log` them).
   */
  onnotice?: (notice: Record<string, string>) => void;
  /** Called when the server reports a changed run-time parameter. */
  onparameter?: (name: string, value: string) => void;
  /** Called with each statement as it is sent, or `true` to keep query text on errors. */
  debug?:
    | boolean
    | ((connection: number, text: string, parameters: unknown[], types: number[]) => void);
  /** Custom types, as postgres.js's `types` option, keyed by any name. */
  types?: Record<string, PostgresCustomType>;
}

/**
 * A custom type for {@linkcode PostgresDriverOptions.types}, as postgres.js
 * takes it.
 *
 * @example A `bigint` type that parses `int8` columns as `bigint`
 * ```ts
 * import type { PostgresCustomType } from "@x/pool";
 *
 * const bigint: PostgresCustomType = {
 *   to: 20,
 *   from: [20],
 *   serialize: (value) => String(value),
 *   parse: (text) => BigInt(text),
 * };
 * ```
 */
export interface PostgresCustomType {
  /** The OID parameters of this type are sent as. */
  to: number;
  /** The OIDs of the columns parsed with `parse`. */
  from: number[];
  /** Turns a parameter into its text form. */
  serialize: (value: unknown) => unknown;
  /** Turns a column's text form into a value. */
  parse: (text: string) => unknown;
}

/**
 * Creates a driver that opens PostgreSQL connections with postgres.js.
 *
 * Each connection is a dedicated socket (one postgres.js instance with
 * `max: 1`, `idle_timeout: null`, `max_lifetime: null`) that never reconnects.
 *
 * - **Statements** run one at a time per connection, never pipelined, always
 *   with the extended protocol (named prepared statements unless
 *   `prepare: false` or `pooler`), so a query is exactly one statement: the
 *   server refuses `"select 1; select 2"` with SQLSTATE 42601. Parameters are
 *   `$1`, `$2`, ...
 * - **Behind PgBouncer in transaction mode**, pass `pooler: "transaction"`;
 *   see {@linkcode PostgresDriverOptions.pooler}.
 * - **Array types**: postgres.js's own type fetch runs unawaited and turns a
 *   backend dying during it into an unhandled rejection, so it is off
 *   (`fetch_types: false`), and without it postgres.js returns every array as
 *   its text literal (`"{1,2}"`) and cannot send JS arrays as parameters.
 *   Instead, the driver's first successful connect reads every array type's
 *   OID from `pg_type`, awaited, as its connect round trip; every connection
 *   of the driver then parses arrays into JS arrays (elements by their type's
 *   postgres.js parser, `NULL` as `null`) and serializes JS array parameters.
 *   Array types created later are not known until a new driver is created.
 * - **`dirty`** is true while a call is running or queued, and while a
 *   transaction is open or failed. postgres.js does not expose the
 *   ReadyForQuery status byte, so the driver follows the command tags:
 *   `BEGIN`/`START TRANSACTION` open one, `PREPARE TRANSACTION` closes it, and
 *   `COMMIT`/`ROLLBACK` close it only when the statement is a plain
 *   `COMMIT`/`END`/`ROLLBACK`/`ABORT` (so `ROLLBACK TO SAVEPOINT` and
 *   `... AND CHAIN` keep it open). A failed statement changes nothing, so a
 *   failed transaction stays dirty. Doubtful cases count as dirty: a needless
 *   `ROLLBACK` costs one round trip, a missed one leaks a transaction. Session
 *   state outside transactions (`SET`, temporary tables, advisory locks) is
 *   not tracked.
 * - **`reset()`** cancels a statement still running (server-side), waits for
 *   it and for calls made before it, then sends `ROLLBACK` if a transaction
 *   is open.
 * - **Abort**: a query whose signal aborts rejects with `signal.reason` at
 *   once; the driver asks the server to cancel it and keeps the connection
 *   busy (dirty) until the statement and the cancel request have ended, so a
 *   late cancel cannot hit the next statement.
 * - **`close()`** cancels a running statement, ends the socket with a
 *   Terminate message and resolves once postgres.js reports it closed, or
 *   after `connect_timeout` if the server never acknowledges (postgres.js can
 *   only half-close a socket, not destroy it; the OS then has it).
 *
 * @param urlOrOptions A `postgres://` or `postgresql://` URL, or postgres.js
 * connection options.
 * @param driverOptions More options, overriding those of the first argument.
 * @returns A driver for a pool.
 * @throws {TypeError} When no username is given, an option the pool owns
 * (`max`, `idle_timeout`, `max_lifetime`, ...) is, or `pooler` is not
 * `"transaction"`.
 * @throws {RangeError} When the port is not an integer from 1 to 65535.
 *
 * @example From a URL
 * ```ts
 * import { postgresDriver } from "@x/pool";
 *
 * const driver = postgresDriver("postgres://app:secret@localhost:5432/app", {
 *   connection: { application_name: "api" },
 * });
 * ```
 *
 * @example Behind PgBouncer in transaction mode
 * ```ts
 * import { postgresDriver } from "@x/pool";
 *
 * // No named prepared statements; a pool refuses resetSession with this driver.
 * const driver = postgresDriver("postgres://app:secret@pgbouncer:6432/app", {
 *   pooler: "transaction",
 * });
 * ```
 *
 * @example From options
 * ```ts
 * import { postgresDriver } from "@x/pool";
 *
 * const driver = postgresDriver({
 *   host: "localhost",
 *   port: 5432,
 *   username: "app",
 *   password: "secret",
 *   database: "app",
 *   connection: { application_name: "api" },
 * });
 * ```
 */
export function postgresDriver(
  urlOrOptions: string | PostgresDriverOptions,
  driverOptions?: PostgresDriverOptions,
): Driver {
  const { options, pooler } = resolveOptions(urlOrOptions, driverOptions);
  return new PostgresDriver(options, pooler !== undefined);
}

type Sql = postgres.Sql<Record<string, unknown>>;
type Statement = postgres.PendingQuery<postgres.Row[]>;
type Rows = postgres.RowList<postgres.Row[]>;
/** A call of this driver; its `cancel` is the request to cancel its statement. */
type PostgresCall = Call<Statement, Promise<void>>;

const noop = () => {};
/**
 * The rows of a result as a plain array. postgres.js 3.4.9 resets its row
 * index only when a statement completes, so after one that failed midway
 * through its rows, the next result starts with that many holes; the rows
 * themselves are right, so the holes are dropped.
 */
function rowsOf(result: Rows): Rows[number][] {
  const rows = Array.from(result);
  return rows.length > 0 && rows[0] === undefined ? rows.filter((row) => row !== undefined) : rows;
}

/** postgres.js's option for the simple protocol, missing from its types. */
const SIMPLE = { simple: true } as unknown as { prepare: boolean };

class PostgresDriver implements Driver {
  readonly #options: Options;
  /** Filled by the first successful connect; shared by later ones. */
  #arrayTypes: readonly ArrayType[] | undefined;
  readonly sharesSessions: boolean;

  constructor(options: Options, sharesSessions: boolean) {
    this.#options = options;
    this.sharesSessions = sharesSessions;
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    signal.throwIfAborted();
    const { connection, arrayTypes } = await PostgresConnection.open(
      this.#options,
      this.sharesSessions,
      this.#arrayTypes,
      signal,
    );
    this.#arrayTypes ??= arrayTypes;
    return connection;
  }

  canRetryConnect(error: unknown): boolean {
    return canRetryConnect(error);
  }

  classifyError(error: unknown): "serverGone" | "readOnly" | undefined {
    return classifyError(error);
  }
}

class PostgresConnection extends SerialConnection<Statement, Promise<void>> {
  /** The postgres.js instance: `max: 1`, so one socket. */
  readonly #sql: Sql;
  /** How long `close()` waits for the socket to close, in milliseconds. */
  readonly #closeTimeout: number;
  /** `{ prepare, simple: false }`, as postgres.js takes it; it copies it per statement. */
  readonly #statementOptions: { prepare: boolean };

  private constructor(options: Options, sharesSessions: boolean) {
    super(sharesSessions);
    // `simple: false` is not in postgres.js's types; it makes an
    // unparameterised query one statement too, so tags track reliably.
    const prepare = options.prepare === true;
    this.#statementOptions = { prepare, simple: false } as { prepare: boolean };
    this.#closeTimeout = (options.connect_timeout ?? 30) * 1000;
    this.#sql = postgres({
      ...options,
      // It says nothing of why, and reconnects only for a next statement,
      // which a closed connection never sends.
      onclose: () => this.socketClosed(undefined, false),
    }) as unknown as Sql;
  }

  /**
   * Opens a connection and makes its first round trip: the array type fetch
   * when `arrayTypes` is not known yet, else an empty query.
   */
  static open(
    options: Options,
    sharesSessions: boolean,
    arrayTypes: readonly ArrayType[] | undefined,
    signal: AbortSignal,
  ): Promise<{ connection: PostgresConnection; arrayTypes: readonly ArrayType[] }> {
    const connection = new PostgresConnection(options, sharesSessions);
    const sql = connection.#sql;
    if (arrayTypes) installArrayTypes(sql.options, arrayTypes);
    // postgres.js connects lazily: the first statement opens the socket.
    const first: Statement = sql.unsafe(arrayTypes ? "" : FETCH_ARRAY_TYPES);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        // Ending mid-handshake can strand a socket postgres.js is still
        // opening, so let the attempt settle first. connect_timeout bounds
        // that, except when a proxy hangs up during startup: postgres.js then
        // retries forever, which the timer stops.
        const timer = setTimeout(() => connection.endSocket(), connection.#closeTimeout);
        const end = () => {
          clearTimeout(timer);
          connection.endSocket();
        };
        first.then(end, end);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      first.then(
        (rows) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          const types = arrayTypes ?? arrayTypesFrom(rows);
          if (!arrayTypes) installArrayTypes(sql.options, types);
          if (connection.closed) {
            const error = connection.closedError("connect");
            connection.close().then(() => reject(error));
          } else {
            resolve({ connection, arrayTypes: types });
          }
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          connection.close().then(() => reject(error));
        },
      );
    });
  }

  protected shutDown(): Promise<void> {
    // The backend would otherwise run the statement to its end, and only
    // read the Terminate message, and close the socket, after it.
    const cancelled = this.cancelRunning();
    this.endSocket();
    // postgres.js only half-closes the socket and cannot destroy it; a
    // server that never answers would hold close() until TCP gives up.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const patience = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#closeTimeout);
    });
    return Promise.all([Promise.race([this.gone, patience]), cancelled])
      .then(() => clearTimeout(timer));
  }

  protected send(call: PostgresCall): Statement {
    if (call.action === "query") {
      // A copy, as the caller may change its array once the call returns.
      const params = call.params.length === 0 ? NO_PARAMS : [...call.params] as never[];
      return this.#sql.unsafe(call.text, params, this.#statementOptions);
    }
    // Several statements: one round trip with the simple protocol.
    if (call.action === "discard") return this.#sql.unsafe(call.text, NO_PARAMS, SIMPLE);
    return this.#sql.unsafe(call.text);
  }

  protected conclude(call: PostgresCall, ok: boolean, value: unknown): void {
    if (ok) {
      try {
        value = this.#result(call, value as Rows);
      } catch (error) {
        // Unreachable: tracking and copying rows do not throw.
        [ok, value] = [false, error];
      }
    } else if (breaksConnection(value)) this.fail(value);
    // A cancel request still in flight could hit the next statement.
    if (call.cancel !== undefined) {
      call.cancel.then(() => this.finish(call, ok, value));
    } else this.finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: PostgresCall, result: Rows): QueryResult | undefined {
    if (call.action === "ping" || call.action === "discard") return undefined;
    this.transaction = transactionOpenAfter(this.transaction, call.text, result.command);
    if (call.action === "reset") return undefined;
    return { rows: rowsOf(result), rowCount: result.count ?? 0, command: result.command ?? "" };
  }

  protected cancel(call: PostgresCall): Promise<void> | undefined {
    if (call.query === undefined || call.ended) return undefined;
    return call.cancel ??= cancelStatement(call.query);
  }

  /** Ends the socket with a Terminate message. */
  protected endSocket(): void {
    this.#sql.end({ timeout: 0 }).then(noop, noop);
  }

  /** postgres.js rejects the statement just before calling `onclose`. */
  protected afterClientRejected(task: () => void): void {
    queueMicrotask(task);
  }
}
