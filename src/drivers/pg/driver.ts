/**
 * A {@linkcode Driver} for PostgreSQL on top of
 * [node-postgres](https://node-postgres.com) (`pg`) 8.23 or later, on any
 * runtime with Node.js compatibility (Deno, Bun, Node.js). With its `_*`
 * helpers, the only module that imports `pg`.
 *
 * Each pooled connection is one `pg.Client` (not a `pg.Pool`), so its
 * single socket lives exactly as long as the pool says, and it never
 * reconnects: once node-postgres reports the socket closed, every call
 * rejects without sending anything.
 *
 * @example
 * ```ts ignore
 * import { pgDriver } from "@x/pool/pg";
 *
 * const driver = pgDriver("postgres://app:secret@localhost/app");
 * const connection = await driver.connect(AbortSignal.timeout(10_000));
 * const { rows } = await connection.query("select $1::int + 1 as n", [41]);
 * console.log(rows[0].n); // 42
 * await connection.close();
 * ```
 *
 * @module
 */

import type { Driver, DriverConnection, ServerErrorKind } from "../../driver.ts";
import {
  canRetryConnect,
  canRetryTransaction,
  classifyError,
  tlsNotAvailable,
} from "../_shared/sqlstate.ts";
import { neverSent } from "../_shared/call.ts";
import { PgConnection } from "./_connection.ts";
import { refusedTls } from "./_errors.ts";
import { redactError, secretsIn, secretsOf } from "../_shared/redact.ts";
import { forHost, type ResolvedOptions, resolveOptions } from "./_resolve_options.ts";
import {
  connectToTarget,
  SESSION_STATE_QUERY,
  type SessionState,
  wantsWrites,
} from "../_shared/target_session.ts";
import type { PgDriverOptions } from "./options.ts";

/**
 * Creates a driver that opens PostgreSQL connections with node-postgres's
 * `pg.Client`. Semantics match `postgresDriver`'s: one dedicated socket per
 * connection that never reconnects, statements one at a time, server-side
 * cancel on abort, and errors carrying their SQLSTATE in `code`. Where the
 * clients differ:
 *
 * - **No pipelining.** node-postgres sends one statement at a time per
 *   client (it queues the rest itself), so this driver has no `pipelinable`
 *   and the pool never sends a statement behind another on its connections.
 * - **Statements**: a query **without parameters** goes over the simple
 *   protocol and may hold several statements; the result is the last
 *   statement's. A query with parameters is one statement, as an unnamed
 *   prepared statement: parsed, bound and executed in one exchange. The
 *   driver never names a statement, so nothing stays prepared on the
 *   server (node-postgres prepares only named ones).
 * - **`dirty`** comes from the server's own transaction status, which
 *   node-postgres keeps from each ReadyForQuery: exact after a statement
 *   that succeeded. After one that failed, a transaction open before stays
 *   open; a failed query of several statements counts as leaving one open.
 * - **Values** are node-postgres's: `int8` and `numeric` as strings, `date`
 *   and `timestamp(tz)` as `Date`, `bytea` as `Buffer`, `json`/`jsonb`
 *   parsed, arrays of built-in types as arrays; see
 *   {@linkcode PgDriverOptions.types} to change a parser. Parameters go as
 *   text: `undefined` as `NULL`, a `Date` as a timestamp, an array as an
 *   array literal, another object as JSON.
 * - **Abort**: node-postgres has no cancel of its own to wait for, so the
 *   driver sends the CancelRequest itself, on a socket of its own, and
 *   keeps the connection busy (dirty) until the server has closed that
 *   socket and the statement has ended, so a late cancel cannot hit the
 *   next statement. If the server does not close it within
 *   `connect_timeout`, the connection closes instead.
 * - **`close()`** cancels a running statement, ends the socket (with a
 *   Terminate message when idle) and resolves once it has closed, or
 *   destroys it after `connect_timeout`.
 * - **Behind PgBouncer in transaction mode**, pass `pooler: "transaction"`;
 *   see {@linkcode PgDriverOptions.pooler}.
 *
 * @param urlOrOptions A `postgres://` or `postgresql://` URL with one host,
 * or connection options.
 * @param driverOptions More options, overriding those of the first argument.
 * @returns A driver for a pool.
 * @throws {TypeError} When no username is given, an option the pool owns
 * (`connectionString`, `query_timeout`, `pipeline`) or one this driver
 * takes under another name (`connectionTimeoutMillis`, `keepAlive`,
 * `application_name`) is, `pooler` is not `"transaction"`, or the URL's
 * scheme is not `postgres:` or `postgresql:`.
 * @throws {RangeError} When the port is not an integer from 1 to 65535,
 * `connect_timeout` or `keep_alive` is not a positive number, `ssl` (or
 * the URL's `sslmode`) is not a known mode, or several hosts are given.
 *
 * @example From a URL
 * ```ts
 * import { pgDriver } from "@x/pool/pg";
 *
 * const driver = pgDriver("postgres://app:secret@localhost:5432/app", {
 *   connection: { application_name: "api" },
 * });
 * ```
 *
 * @example From options
 * ```ts
 * import { pgDriver } from "@x/pool/pg";
 *
 * const driver = pgDriver({
 *   host: "localhost",
 *   port: 5432,
 *   username: "app",
 *   password: "secret",
 *   database: "app",
 *   connection: { application_name: "api" },
 * });
 * ```
 *
 * @example Behind PgBouncer in transaction mode
 * ```ts
 * import { pgDriver } from "@x/pool/pg";
 *
 * const driver = pgDriver("postgres://app:secret@pgbouncer.internal:6432/app", {
 *   pooler: "transaction",
 * });
 * ```
 */
export function pgDriver(
  urlOrOptions: string | PgDriverOptions,
  driverOptions?: PgDriverOptions,
): Driver {
  let options;
  try {
    options = resolveOptions(urlOrOptions, driverOptions);
  } catch (error) {
    throw redactError(error, secretsIn(urlOrOptions, driverOptions));
  }
  return new PgDriver(options);
}

class PgDriver implements Driver {
  readonly #options: ResolvedOptions;
  readonly sharesSessions: boolean;

  /** The password's forms, kept out of connect errors. */
  readonly #secrets: readonly string[];

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.sharesSessions = options.pooler !== undefined;
    this.#secrets = secretsOf(options.client.password);
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    signal.throwIfAborted();
    try {
      return await this.#connect(signal);
    } catch (error) {
      throw redactError(error, this.#secrets);
    }
  }

  async #connect(signal: AbortSignal): Promise<DriverConnection> {
    const { hosts, targetSessionAttrs: attrs } = this.#options;
    if (hosts.length === 1 && attrs === "any") return this.#open(this.#options, signal);
    const connection = await connectToTarget(hosts, attrs, async (host, check, signal) => {
      const connection = await this.#open(forHost(this.#options, host), signal);
      if (!check) return { connection };
      try {
        const { rows } = await connection.query(SESSION_STATE_QUERY, [], signal);
        return { connection, state: rows[0] as unknown as SessionState };
      } catch (error) {
        await connection.close();
        throw error;
      }
    }, signal);
    connection.forWrites = wantsWrites(attrs);
    return connection;
  }

  async #open(options: ResolvedOptions, signal: AbortSignal): Promise<PgConnection> {
    try {
      return await PgConnection.open(options, options.ssl, signal);
    } catch (error) {
      if (signal.aborted || !refusedTls(error)) throw error;
      // "allow" and "prefer": a server without TLS is connected to without it.
      if (!options.plainIfRefused) throw tlsNotAvailable(error);
      return PgConnection.open(options, false, signal);
    }
  }

  canRetryConnect(error: unknown): boolean {
    return canRetryConnect(error);
  }

  classifyError(error: unknown): ServerErrorKind | undefined {
    return classifyError(error);
  }
  canRetryTransaction(error: unknown): boolean {
    return canRetryTransaction(error);
  }

  neverSent(error: unknown): boolean {
    return neverSent(error);
  }
}
