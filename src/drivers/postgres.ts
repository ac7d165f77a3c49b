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
import { canRetryConnect, classifyError, connectionError } from "./_sqlstate.ts";
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
type Action = "query" | "ping" | "reset" | "discard";

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
/**
 * What `DISCARD ALL` does, but `DEALLOCATE ALL`: the prepared statements
 * postgres.js has cached for this connection must stay.
 */
const DISCARD_SESSION = "close all; set session authorization default; reset all; unlisten *; " +
  "select pg_advisory_unlock_all(); discard plans; discard temp; discard sequences";
/** For a microtask: cheaper than `queueMicrotask` in Deno. */
const RESOLVED = Promise.resolve();
/** The parameters of a statement that has none; postgres.js only reads them. */
const NO_PARAMS: never[] = Object.freeze([]) as never[];

/**
 * One call of `query`, `ping` or `reset`: queued until the calls before it
 * have finished, then on the wire, then done. A node of its connection's queue.
 */
class Call {
  /** Whether the caller's promise has settled: done, or aborted. */
  settled = false;
  /** Whether postgres.js (or the socket's close) has ended the statement. */
  ended = false;
  /** The statement on the wire, once sent. */
  query: Statement | undefined = undefined;
  /** The request to cancel `query`, once made. */
  cancelled: Promise<void> | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  next: Call | undefined = undefined;

  constructor(
    readonly action: Action,
    readonly text: string,
    readonly params: readonly unknown[],
    readonly signal: AbortSignal | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}
}

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

class PostgresConnection implements DriverConnection {
  /** The postgres.js instance: `max: 1`, so one socket. */
  readonly #sql: Sql;
  readonly #prepare: boolean;
  /** How long `close()` waits for the socket to close, in milliseconds. */
  readonly #closeTimeout: number;
  /** Set as soon as `close()` is called or the socket has closed. */
  #closed = false;
  /** Set by the first `close()`: what every `close()` returns. */
  #closing: Promise<void> | undefined;
  /** What the close listener is told; set once the socket has closed. */
  #closeReport: { error: Error | undefined } | undefined;
  #listener: ((error?: unknown) => void) | undefined;
  /** Resolves when postgres.js reports the socket closed. */
  readonly #gone: Promise<void>;
  #markGone: () => void = noop;
  /** `{ prepare, simple: false }`, as postgres.js takes it; it copies it per statement. */
  readonly #statementOptions: { prepare: boolean };
  /** Calls started and not yet finished, running or queued. */
  #pending = 0;
  /** Calls waiting for the connection, oldest first; calls run one at a time. */
  #head: Call | undefined;
  #tail: Call | undefined;
  /** The call whose statement is on the wire, if any. */
  #running: Call | undefined;
  /** Set from a call's start until it has finished, its cancel request included. */
  #busy = false;
  /** Set while a microtask is due to start the next call. */
  #scheduled = false;
  /** Starts queued calls until one is on the wire; bound once, as a microtask. */
  readonly #pump = () => this.#startNext();
  /** The socket error that killed the connection, if one did. */
  #failure: unknown;
  #transaction = false;
  /** Set behind a transaction pooler: the server session is not this connection's own. */
  readonly #sharesSessions: boolean;

  private constructor(options: Options, sharesSessions: boolean) {
    this.#sharesSessions = sharesSessions;
    this.#gone = new Promise((resolve) => this.#markGone = resolve);
    this.#prepare = options.prepare === true;
    // `simple: false` is not in postgres.js's types; it makes an
    // unparameterised query one statement too, so tags track reliably.
    this.#statementOptions = { prepare: this.#prepare, simple: false } as { prepare: boolean };
    this.#closeTimeout = (options.connect_timeout ?? 30) * 1000;
    this.#sql = postgres({
      ...options,
      onclose: () => this.#socketClosed(),
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
        const timer = setTimeout(() => connection.#end(), connection.#closeTimeout);
        const end = () => {
          clearTimeout(timer);
          connection.#end();
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
          if (connection.#closed) {
            const error = connection.#closedError("connect");
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

  get dirty(): boolean {
    return this.#pending > 0 || this.#transaction;
  }

  get closed(): boolean {
    return this.#closed;
  }

  query(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.#run("query", text, params, signal) as Promise<QueryResult>;
  }

  ping(signal?: AbortSignal): Promise<void> {
    // An empty query: one round trip, nothing parsed, accepted even in a
    // failed transaction.
    return this.#run("ping", "", NO_PARAMS, signal) as Promise<void>;
  }

  reset(signal?: AbortSignal): Promise<void> {
    if (!this.#closed && !signal?.aborted) this.#cancelRunning();
    return this.#run("reset", "rollback", NO_PARAMS, signal) as Promise<void>;
  }

  async discard(signal?: AbortSignal): Promise<void> {
    if (this.#sharesSessions) {
      // The pool refuses resetSession with this driver; this is for a caller without it.
      throw new TypeError(
        'Cannot discard the session: behind a pooler (pooler "transaction") it would reach another backend',
      );
    }
    // Its statements refuse to run inside a transaction block.
    await this.reset(signal);
    await this.#run("discard", DISCARD_SESSION, NO_PARAMS, signal);
  }

  onClose(listener: (error?: unknown) => void): void {
    this.#listener = listener;
    if (this.#closeReport) this.#notify();
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      // The backend would otherwise run the statement to its end, and only
      // read the Terminate message, and close the socket, after it.
      const cancelled = this.#cancelRunning();
      this.#end();
      // postgres.js only half-closes the socket and cannot destroy it; a
      // server that never answers would hold close() until TCP gives up.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const patience = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#closeTimeout);
      });
      this.#closing = Promise.all([
        Promise.race([this.#gone, patience]),
        cancelled,
      ]).then(() => clearTimeout(timer));
    }
    return this.#closing;
  }

  /**
   * Runs one call once every earlier one has finished. postgres.js would
   * queue concurrent queries itself and, if the socket closed with one
   * queued, reconnect to run it: a new session behind the pool's back.
   */
  #run(
    action: Action,
    text: string,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closedError(action));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#pending++;
    return new Promise((resolve, reject) => {
      const call = new Call(action, text, params, signal, resolve, reject);
      if (signal !== undefined) {
        call.onAbort = () => {
          this.#settle(call, false, signal.reason);
          this.#cancel(call);
        };
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      if (this.#tail === undefined) this.#head = call;
      else this.#tail.next = call;
      this.#tail = call;
      // A microtask later, as a `close()` in the same step must find it unsent.
      if (!this.#busy && !this.#scheduled) {
        this.#scheduled = true;
        RESOLVED.then(this.#pump);
      }
    });
  }

  /** Starts queued calls until one is on the wire or none is left. */
  #startNext(): void {
    this.#scheduled = false;
    let call: Call | undefined;
    while (!this.#busy && (call = this.#head) !== undefined) {
      this.#head = call.next;
      if (this.#head === undefined) this.#tail = undefined;
      call.next = undefined;
      this.#start(call);
    }
  }

  #start(call: Call): void {
    // Aborted while queued: nothing was sent.
    if (call.settled) return this.#finish(call, false, undefined);
    if (this.#closed) return this.#finish(call, false, this.#closedError(call.action));
    let query: Statement;
    if (call.action === "query") {
      // A copy, as the caller may change its array once the call returns.
      const params = call.params.length === 0 ? NO_PARAMS : [...call.params] as never[];
      query = this.#sql.unsafe(call.text, params, this.#statementOptions);
    } else if (call.action === "discard") {
      // Several statements: one round trip with the simple protocol.
      query = this.#sql.unsafe(call.text, NO_PARAMS, SIMPLE);
    } else if (call.action === "ping" || this.#transaction) {
      query = this.#sql.unsafe(call.text);
    } else {
      // A reset with no transaction open: nothing to send.
      return this.#finish(call, true, undefined);
    }
    call.query = query;
    this.#running = call;
    this.#busy = true;
    query.then(
      (result) => this.#ended(call, true, result),
      (error) => this.#ended(call, false, error),
    );
  }

  /** The statement of the running call has ended, or the socket is gone. */
  #ended(call: Call, ok: boolean, value: unknown): void {
    if (call.ended) return;
    call.ended = true;
    this.#running = undefined;
    if (ok) {
      try {
        value = this.#result(call, value as Rows);
      } catch (error) {
        // Unreachable: tracking and copying rows do not throw.
        [ok, value] = [false, error];
      }
    } else if (breaksConnection(value)) this.#fail(value);
    // A cancel request still in flight could hit the next statement.
    if (call.cancelled !== undefined) {
      call.cancelled.then(() => this.#finish(call, ok, value));
    } else this.#finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: Call, result: Rows): QueryResult | undefined {
    if (call.action === "ping" || call.action === "discard") return undefined;
    this.#track(call.text, result.command);
    if (call.action === "reset") return undefined;
    return { rows: rowsOf(result), rowCount: result.count ?? 0, command: result.command ?? "" };
  }

  /** Ends a call: settles its caller, unless it gave up, and starts the next one. */
  #finish(call: Call, ok: boolean, value: unknown): void {
    if (call.onAbort !== undefined) call.signal!.removeEventListener("abort", call.onAbort);
    // Before settling, so the caller sees `dirty` false once it resumes.
    this.#pending--;
    this.#settle(call, ok, value);
    if (this.#busy) {
      this.#busy = false;
      this.#startNext();
    }
  }

  #settle(call: Call, ok: boolean, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (ok) call.resolve(value);
    else call.reject(value);
  }

  /** Asks the server to cancel a call's statement, if it is on the wire. */
  #cancel(call: Call): Promise<void> | undefined {
    if (call.query === undefined || call.ended) return undefined;
    return call.cancelled ??= cancelStatement(call.query);
  }

  /** Asks the server to cancel the statement on the wire, if any. */
  #cancelRunning(): Promise<void> | undefined {
    return this.#running === undefined ? undefined : this.#cancel(this.#running);
  }

  #track(text: string, command: string | undefined): void {
    this.#transaction = transactionOpenAfter(this.#transaction, text, command);
  }

  /**
   * A statement failed in a way that leaves the socket unusable. Stop using
   * it now: postgres.js reports the close a little later, and a statement
   * sent in between is never settled.
   */
  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failure = error;
    this.#end();
  }

  /** Ends the socket with a Terminate message, without waiting. */
  #end(): void {
    this.#sql.end({ timeout: 0 }).then(noop, noop);
  }

  /** postgres.js's `onclose`: the socket is gone, whoever closed it. */
  #socketClosed(): void {
    if (this.#closeReport) return;
    this.#closed = true;
    this.#closeReport = {
      error: this.#closing ? undefined : connectionError(
        "Connection lost: the server or the network closed it",
        this.#failure,
      ),
    };
    this.#markGone();
    // After postgres.js's own rejection of the statement, which is more
    // precise; it rejected it just before calling onclose.
    const running = this.#running;
    if (running !== undefined) {
      queueMicrotask(() => this.#ended(running, false, this.#closedError(running.action)));
    }
    if (this.#listener) this.#notify();
  }

  #notify(): void {
    const listener = this.#listener;
    const error = this.#closeReport?.error;
    this.#listener = undefined;
    queueMicrotask(() => {
      try {
        listener?.(error);
      } catch {
        // The listener is the pool's; its bug must not escape into
        // postgres.js's socket handler or the microtask queue.
      }
    });
  }

  #closedError(action: string): Error {
    return connectionError(
      `Cannot ${action}: the connection is closed`,
      this.#closeReport?.error,
    );
  }
}
