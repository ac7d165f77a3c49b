/**
 * A {@linkcode Driver} for PostgreSQL on top of
 * [postgres.js](https://github.com/porsager/postgres) 3.4. The only file that
 * imports `postgres`.
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
  /** Use named prepared statements, cached per connection. Default `false`. */
  prepare?: boolean;
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
 * - **Statements** run one at a time per connection, always with the extended
 *   protocol (unnamed statements unless `prepare: true`), so a query is
 *   exactly one statement: the server refuses `"select 1; select 2"` with
 *   SQLSTATE 42601. Parameters are `$1`, `$2`, ...
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
 * @throws {TypeError} When no username is given, or an option the pool owns
 * (`max`, `idle_timeout`, `max_lifetime`, ...) is.
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
  return new PostgresDriver(resolveOptions(urlOrOptions, driverOptions));
}

type Options = postgres.Options<Record<string, postgres.PostgresType>>;
type Sql = postgres.Sql<Record<string, unknown>>;
type Statement = postgres.PendingQuery<postgres.Row[]>;
type Rows = postgres.RowList<postgres.Row[]>;
/** An element type's OID and its array type's OID. */
type ArrayType = readonly [element: number, array: number];

const OWNED_OPTIONS = [
  "max",
  "idle_timeout",
  "max_lifetime",
  "fetch_types",
  "onclose",
  "backoff",
  "timeout",
] as const;

const FETCH_ARRAY_TYPES = `
  select b.oid as element, b.typarray as array
  from pg_catalog.pg_type a
  join pg_catalog.pg_type b on b.oid = a.typelem
  where a.typcategory = 'A' and b.typarray <> 0
  group by b.oid, b.typarray
  order by b.oid`;

/** A plain COMMIT/END/ROLLBACK/ABORT, which ends the transaction for good. */
const ENDS_TRANSACTION =
  /^(?:commit|end|rollback|abort)(?:\s+(?:work|transaction))?(?:\s+and\s+no\s+chain)?\s*;?$/i;
const SQL_COMMENTS = /--[^\n]*|\/\*[\s\S]*?\*\//g;

const noop = () => {};

class PostgresDriver implements Driver {
  readonly #options: Options;
  /** Filled by the first successful connect; shared by later ones. */
  #arrayTypes: readonly ArrayType[] | undefined;

  constructor(options: Options) {
    this.#options = options;
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    signal.throwIfAborted();
    const { connection, arrayTypes } = await PostgresConnection.open(
      this.#options,
      this.#arrayTypes,
      signal,
    );
    this.#arrayTypes ??= arrayTypes;
    return connection;
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
  /** Calls started and not yet finished, running or queued. */
  #pending = 0;
  /** Ends when the last call started has finished; calls run one at a time. */
  #tail: Promise<void> = Promise.resolve();
  /** Asks the server to cancel the statement on the wire, if any. */
  #cancelRunning: (() => Promise<void>) | undefined;
  /** Rejects the statement on the wire, if any, once the socket is gone. */
  #abandonRunning: (() => void) | undefined;
  /** The socket error that killed the connection, if one did. */
  #failure: unknown;
  #transaction = false;

  private constructor(options: Options) {
    this.#gone = new Promise((resolve) => this.#markGone = resolve);
    this.#prepare = options.prepare === true;
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
    arrayTypes: readonly ArrayType[] | undefined,
    signal: AbortSignal,
  ): Promise<{ connection: PostgresConnection; arrayTypes: ArrayType[] }> {
    const connection = new PostgresConnection(options);
    const sql = connection.#sql;
    if (arrayTypes) installArrayTypes(sql, arrayTypes);
    // postgres.js connects lazily: the first statement opens the socket.
    const first: Statement = arrayTypes ? sql.unsafe("") : sql.unsafe(FETCH_ARRAY_TYPES);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        // Ending mid-handshake can strand a socket postgres.js is still
        // opening, so let the attempt settle first. connect_timeout bounds
        // that, except when a proxy hangs up during startup: postgres.js then
        // retries forever, which the timer stops.
        const timer = setTimeout(
          () => sql.end({ timeout: 0 }).then(noop, noop),
          (options.connect_timeout ?? 30) * 1000,
        );
        const end = () => {
          clearTimeout(timer);
          sql.end({ timeout: 0 }).then(noop, noop);
        };
        first.then(end, end);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      first.then(
        (rows) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          const types = arrayTypes ?? Array.from(
            rows,
            (row): ArrayType => [Number(row.element), Number(row.array)],
          );
          if (!arrayTypes) installArrayTypes(sql, types);
          if (connection.#closed) {
            const error = connection.#closedError("connect");
            connection.close().then(() => reject(error));
          } else {
            resolve({ connection, arrayTypes: [...types] });
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
    return this.#run(
      "query",
      signal,
      () =>
        this.#sql.unsafe(
          text,
          // deno-lint-ignore no-explicit-any
          [...params] as any[],
          // `simple: false` is not in postgres.js's types; it makes an
          // unparameterised query one statement too, so tags track reliably.
          { prepare: this.#prepare, simple: false } as { prepare: boolean },
        ),
      (result) => {
        this.#track(text, result?.command);
        return {
          rows: result ? Array.from(result) : [],
          rowCount: result?.count ?? 0,
          command: result?.command ?? "",
        };
      },
    );
  }

  ping(signal?: AbortSignal): Promise<void> {
    // An empty query: one round trip, nothing parsed, accepted even in a
    // failed transaction.
    return this.#run("ping", signal, () => this.#sql.unsafe(""), noop);
  }

  reset(signal?: AbortSignal): Promise<void> {
    if (!this.#closed && !signal?.aborted) this.#cancelRunning?.();
    return this.#run(
      "reset",
      signal,
      () => this.#transaction ? this.#sql.unsafe("rollback") : undefined,
      (result) => this.#track("rollback", result?.command),
    );
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
      const cancelled = this.#cancelRunning?.();
      this.#sql.end({ timeout: 0 }).then(noop, noop);
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
  #run<T>(
    action: string,
    signal: AbortSignal | undefined,
    statement: () => Statement | undefined,
    finish: (result: Rows | undefined) => T,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError(action));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#pending++;
    const previous = this.#tail;
    let release = noop;
    this.#tail = new Promise((resolve) => release = resolve);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let cancel: (() => Promise<void>) | undefined;
      const settle = (ok: boolean, value: unknown) => {
        if (settled) return;
        settled = true;
        if (ok) resolve(value as T);
        else reject(value);
      };
      const onAbort = () => {
        settle(false, signal?.reason);
        cancel?.();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      previous.then(async () => {
        let ok = false;
        let value: unknown;
        try {
          // Aborted while queued: nothing was sent.
          if (settled) return;
          if (this.#closed) {
            value = this.#closedError(action);
            return;
          }
          const query = statement();
          if (!query) {
            [ok, value] = [true, finish(undefined)];
            return;
          }
          let cancelled: Promise<void> | undefined;
          cancel = () => cancelled ??= cancelStatement(query);
          this.#cancelRunning = cancel;
          // postgres.js leaves a query sent between a socket error and the
          // socket's close unsettled forever; the close settles it here.
          const outcome = new Promise<Rows>((resolve, reject) => {
            this.#abandonRunning = () => reject(this.#closedError(action));
            query.then(resolve, reject);
          });
          try {
            [ok, value] = [true, finish(await outcome)];
          } catch (error) {
            value = error;
            if (breaksConnection(error)) this.#fail(error);
          }
          this.#cancelRunning = undefined;
          this.#abandonRunning = undefined;
          // A cancel request still in flight could hit the next statement.
          if (cancelled) await cancelled;
        } catch (error) {
          // Unreachable: statement() and finish() do not throw.
          [ok, value] = [false, error];
        } finally {
          signal?.removeEventListener("abort", onAbort);
          // Before settling, so the caller sees `dirty` false once it resumes.
          this.#pending--;
          settle(ok, value);
          release();
        }
      });
    });
  }

  #track(text: string, command: string | undefined): void {
    if (command === "BEGIN" || command === "START TRANSACTION") {
      this.#transaction = true;
    } else if (command === "COMMIT" || command === "ROLLBACK") {
      // Same tags for ROLLBACK TO SAVEPOINT and ... AND CHAIN, which keep the
      // transaction open; anything not plainly ending it counts as open.
      this.#transaction = !ENDS_TRANSACTION.test(
        text.replace(SQL_COMMENTS, " ").trim(),
      );
    } else if (command === "PREPARE TRANSACTION") {
      this.#transaction = false;
    }
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
    const abandon = this.#abandonRunning;
    if (abandon) queueMicrotask(abandon);
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

/**
 * Asks the server to cancel `query` if it is still running, and resolves when
 * the request has been delivered or has failed; never rejects.
 *
 * postgres.js's `query.cancel()` drops the promise of the cancel connection
 * (an unhandled rejection when that connection fails), so this calls the
 * function it wraps, `query.canceller`, and handles the promise. It waits one
 * macrotask first: postgres.js hands a query to the socket a microtask after
 * it is started, and cancelling before that marks the query cancelled without
 * ever settling the connection's queue state, which wedges it.
 */
function cancelStatement(query: Statement): Promise<void> {
  const internal = query as unknown as {
    active?: boolean;
    canceller?: ((query: unknown) => Promise<void>) | null;
  };
  return new Promise((resolve) => {
    setTimeout(() => {
      try {
        const canceller = internal.canceller;
        if (!internal.active) return resolve();
        if (typeof canceller !== "function") {
          query.cancel();
          return resolve();
        }
        internal.canceller = null;
        canceller(query).then(() => resolve(), () => resolve());
      } catch {
        resolve();
      }
    }, 0);
  });
}

/** postgres.js's codes for statements it refused before sending them. */
const REFUSED_BEFORE_SENDING = new Set([
  "UNDEFINED_VALUE",
  "MAX_PARAMETERS_EXCEEDED",
]);

/**
 * Whether a statement's error means the socket is broken: anything but an
 * error the server sent (short of FATAL or PANIC, which end the session) or
 * a statement postgres.js refused to send. Unknown errors count as broken.
 */
function breaksConnection(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) {
    return error.severity === "FATAL" || error.severity === "PANIC";
  }
  return !REFUSED_BEFORE_SENDING.has(
    (error as { code?: string } | null)?.code ?? "",
  );
}

function connectionError(message: string, cause?: unknown): Error {
  return Object.assign(
    new Error(message, cause === undefined ? undefined : { cause }),
    { code: "CONNECTION_CLOSED" },
  );
}

/**
 * Gives one postgres.js instance parsers and serializers for the array types,
 * as its own type fetch would, but parsing `NULL` elements as `null`. Handlers
 * the caller configured through `types` are kept.
 */
function installArrayTypes(sql: Sql, types: readonly ArrayType[]): void {
  const { parsers, serializers } = sql.options;
  for (const [element, array] of types) {
    if (parsers[array] && serializers[array]) continue;
    const parse = parsers[element];
    const serialize = serializers[element];
    // Only box[] (OID 1020) separates its elements with ';'.
    const delimiter = array === 1020 ? ";" : ",";
    parsers[array] = (text: string) => parseArray(text, parse, delimiter);
    serializers[array] = (value: unknown) => serializeArray(value, serialize, delimiter);
  }
}

/** Parses an array's text form, such as `{1,NULL,"a \"b\""}` or `[0:1]={1,2}`. */
function parseArray(
  text: string,
  parse: ((value: string) => unknown) | undefined,
  delimiter: string,
): unknown[] {
  let i = text.indexOf("{");
  const read = (): unknown[] => {
    const items: unknown[] = [];
    i++;
    while (i < text.length) {
      const char = text[i];
      if (char === "}") {
        i++;
        return items;
      } else if (char === delimiter) {
        i++;
      } else if (char === "{") {
        items.push(read());
      } else if (char === '"') {
        let value = "";
        for (i++; i < text.length && text[i] !== '"'; i++) {
          if (text[i] === "\\") i++;
          value += text[i];
        }
        i++;
        items.push(parse ? parse(value) : value);
      } else {
        let end = i;
        while (
          end < text.length && text[end] !== delimiter && text[end] !== "}"
        ) end++;
        const value = text.slice(i, end);
        i = end;
        items.push(value === "NULL" ? null : parse ? parse(value) : value);
      }
    }
    return items;
  };
  return read();
}

/** Serializes a JS array as an array literal; passes anything else through. */
function serializeArray(
  value: unknown,
  serialize: ((value: unknown) => unknown) | undefined,
  delimiter: string,
): unknown {
  if (!Array.isArray(value)) return value;
  const items = value.map((item): string => {
    if (Array.isArray(item)) {
      return serializeArray(item, serialize, delimiter) as string;
    }
    if (item === null) return "NULL";
    if (item === undefined) {
      // postgres.js's code for an undefined parameter: not a broken socket.
      throw Object.assign(
        new TypeError(
          "Cannot serialize an array parameter: it contains undefined, use null",
        ),
        { code: "UNDEFINED_VALUE" },
      );
    }
    const text = String(serialize ? serialize(item) : item);
    return `"${text.replace(/[\\"]/g, "\\$&")}"`;
  });
  return `{${items.join(delimiter)}}`;
}

function resolveOptions(
  urlOrOptions: string | PostgresDriverOptions,
  driverOptions: PostgresDriverOptions | undefined,
): Options {
  const base: Record<string, unknown> = typeof urlOrOptions === "string"
    ? parseUrl(urlOrOptions)
    : { ...urlOrOptions };
  const extra: Record<string, unknown> = { ...driverOptions };
  const given: Record<string, unknown> = {
    ...base,
    ...extra,
    connection: {
      ...base.connection as object,
      ...extra.connection as object,
    },
  };
  for (const key of OWNED_OPTIONS) {
    if (given[key] !== undefined) {
      throw new TypeError(
        `Cannot create the postgres driver: the pool owns each connection's lifetime, so "${key}" is not supported`,
      );
    }
  }
  const { user, pass, db, hostname, ...rest } = given;
  const username = given.username ?? user;
  if (typeof username !== "string" || username === "") {
    throw new TypeError(
      "Cannot create the postgres driver: no username in the URL or options",
    );
  }
  const port = Number(given.port ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot create the postgres driver: port (${given.port}) is not an integer from 1 to 65535`,
    );
  }
  const host = String(given.host ?? hostname ?? "localhost");
  const password = given.password ?? pass;
  // One host goes in as an array, so postgres.js does not split it on ':'
  // (IPv6); a comma-separated list is left for postgres.js to split.
  const several = host.includes(",");
  return {
    ...rest,
    host: several ? host : [host],
    port: several ? port : [port],
    path: given.path ??
      (host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined),
    username,
    database: String(given.database ?? db ?? username),
    // A function, because postgres.js reads PGPASSWORD for a falsy password.
    password: (password || (() => "")) as Options["password"],
    ssl: given.ssl ?? false,
    sslnegotiation: given.sslnegotiation ?? null,
    connect_timeout: given.connect_timeout ?? 30,
    keep_alive: given.keep_alive ?? 60,
    prepare: given.prepare ?? false,
    debug: given.debug ?? false,
    max_pipeline: given.max_pipeline ?? 100,
    publications: given.publications ?? "alltables",
    onnotice: given.onnotice ?? noop,
    connection: {
      application_name: "postgres.js",
      ...given.connection as object,
    },
    max: 1,
    idle_timeout: null,
    max_lifetime: null,
    fetch_types: false,
    backoff: 0,
  } as Record<string, unknown> as Options;
}

/** Splits a connection URL into options, the way postgres.js reads it. */
function parseUrl(text: string): Record<string, unknown> {
  const start = text.indexOf("://") + 3;
  const authority = text.slice(start).split(/[/?#]/, 1)[0];
  const at = authority.lastIndexOf("@") + 1;
  const hosts = authority.slice(at);
  const first = hosts.split(",")[0];
  // `URL` cannot parse several hosts; parse with the first one alone.
  const url = new URL(
    text.slice(0, start + at) + first + text.slice(start + authority.length),
  );
  const options: Record<string, unknown> = {};
  const connection: Record<string, string> = {};
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (hosts.includes(",")) {
    options.host = decodeURIComponent(hosts);
  } else if (url.hostname) {
    options.host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  }
  if (url.port) options.port = Number(url.port);
  if (url.pathname.length > 1) {
    options.database = decodeURIComponent(url.pathname.slice(1));
  }
  for (const [key, value] of url.searchParams) {
    if (key === "sslmode" || key === "ssl") {
      options.ssl = value === "disable" || value === "false" ? false : value;
    } else if (key === "sslrootcert") {
      if (value === "system") options.ssl = "verify-full";
    } else if (key === "connect_timeout" || key === "keep_alive") {
      options[key] = Number(value);
    } else if (key === "target_session_attrs" || key === "sslnegotiation") {
      options[key] = value;
    } else {
      connection[key] = value;
    }
  }
  options.connection = connection;
  return options;
}
