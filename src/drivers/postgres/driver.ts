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
 * import { postgresDriver } from "@x/pool/postgres";
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

import type { Driver, DriverConnection } from "../../driver.ts";
import { pipelinable } from "../_shared/pipelinable.ts";
import {
  canRetryConnect,
  canRetryTransaction,
  classifyError,
  tlsNotAvailable,
} from "../_shared/sqlstate.ts";
import { neverSent } from "../_shared/call.ts";
import type { ArrayType } from "./_arrays.ts";
import { PostgresConnection } from "./_connection.ts";
import { forHost, type Options, type ResolvedOptions, resolveOptions } from "./_resolve_options.ts";
import { refusesTls } from "./_tls_refused.ts";
import { redactError, secretsIn, secretsOf } from "../_shared/redact.ts";
import { connectToTarget, wantsWrites } from "../_shared/target_session.ts";
import type { PostgresDriverOptions } from "./options.ts";

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
 * (`max`, `idle_timeout`, `max_lifetime`, ...) is, `pooler` is not
 * `"transaction"`, or the URL's scheme is not `postgres:` or `postgresql:`.
 * @throws {RangeError} When a port is not an integer from 1 to 65535, or
 * `ssl` (or the URL's `sslmode`) is not a known mode.
 *
 * @example From a URL
 * ```ts
 * import { postgresDriver } from "@x/pool/postgres";
 *
 * const driver = postgresDriver("postgres://app:secret@localhost:5432/app", {
 *   connection: { application_name: "api" },
 * });
 * ```
 *
 * @example Behind PgBouncer in transaction mode
 * ```ts
 * import { postgresDriver } from "@x/pool/postgres";
 *
 * // No named prepared statements; a pool refuses resetSession with this driver.
 * const driver = postgresDriver("postgres://app:secret@pgbouncer:6432/app", {
 *   pooler: "transaction",
 * });
 * ```
 *
 * @example From options
 * ```ts
 * import { postgresDriver } from "@x/pool/postgres";
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
  let resolved;
  try {
    resolved = resolveOptions(urlOrOptions, driverOptions);
  } catch (error) {
    throw redactError(error, secretsIn(urlOrOptions, driverOptions));
  }
  return new PostgresDriver(resolved);
}

class PostgresDriver implements Driver {
  readonly #resolved: ResolvedOptions;
  readonly #options: Options;
  /** Errors of failed connects: a socket closed during one says nothing of a session's end. */
  readonly #connectErrors = new WeakSet<object>();
  /** Filled by the first successful connect; shared by later ones. */
  #arrayTypes: readonly ArrayType[] | undefined;
  readonly sharesSessions: boolean;
  /** The password's forms, kept out of connect errors. */
  readonly #secrets: readonly string[];

  constructor(resolved: ResolvedOptions) {
    this.#resolved = resolved;
    this.#options = resolved.options;
    this.sharesSessions = resolved.pooler !== undefined;
    this.#secrets = secretsOf(resolved.options.password);
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    signal.throwIfAborted();
    try {
      const attrs = this.#resolved.targetSessionAttrs;
      // postgres.js walks its hosts itself, on a failed connect only.
      if (attrs === "any") return (await this.#open(this.#options, false, signal)).connection;
      const connection = await connectToTarget(
        this.#resolved.hosts,
        attrs,
        (host, check, signal) => this.#open(forHost(this.#options, host), check, signal),
        signal,
      );
      connection.forWrites = wantsWrites(attrs);
      return connection;
    } catch (error) {
      const refused = await this.#tlsRefused(error, signal);
      const failed = redactError(refused ? tlsNotAvailable(error) : error, this.#secrets);
      if (typeof failed === "object" && failed !== null) this.#connectErrors.add(failed);
      throw failed;
    }
  }

  /**
   * Whether `error`, a TLS handshake cut short while TLS is required, came
   * from a server without TLS: then no attempt will succeed until its
   * configuration changes. Asked of a single TCP host only.
   */
  async #tlsRefused(error: unknown, signal: AbortSignal): Promise<boolean> {
    const { ssl, host, port, path } = this.#options;
    const cutShort = (error as { code?: unknown } | null)?.code === "ECONNRESET" &&
      /before secure TLS connection/.test(String((error as Error).message));
    if (!cutShort || signal.aborted || !ssl || ssl === "prefer" || path) return false;
    if (!Array.isArray(host) || host.length !== 1 || !Array.isArray(port)) return false;
    const timeout = Number(this.#options.connect_timeout) * 1000;
    return await refusesTls(host[0], Number(port[0]), timeout, signal);
  }

  async #open(options: Options, check: boolean, signal: AbortSignal) {
    const opened = await PostgresConnection.open(
      options,
      this.sharesSessions,
      this.#arrayTypes,
      check,
      signal,
    );
    this.#arrayTypes ??= opened.arrayTypes;
    return opened;
  }

  canRetryConnect(error: unknown): boolean {
    return canRetryConnect(error);
  }

  pipelinable(text: string): boolean {
    // Behind a transaction pooler each statement may reach another backend.
    return !this.sharesSessions && pipelinable(text);
  }

  classifyError(error: unknown): "serverGone" | "readOnly" | undefined {
    // postgres.js drops the FATAL the server sends before it closes a
    // session (57P01 for a terminated backend or a shutdown alike) and
    // reports a closed connection: the pool checks the server before it
    // retires the other connections.
    const closed = (error as { code?: unknown } | null)?.code === "CONNECTION_CLOSED" &&
      !this.#connectErrors.has(error as object);
    return closed ? "serverGone" : classifyError(error);
  }
  canRetryTransaction(error: unknown): boolean {
    return canRetryTransaction(error);
  }

  neverSent(error: unknown): boolean {
    return neverSent(error);
  }
}
