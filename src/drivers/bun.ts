/**
 * A {@linkcode Driver} for PostgreSQL on top of Bun's built-in client,
 * [`Bun.SQL`](https://bun.com/docs/api/sql). It needs Bun; on another
 * runtime, use `postgresDriver` from `@x/pool/postgres` instead.
 *
 * Each pooled connection is one `Bun.SQL` instance with `max: 1` and no
 * timers of its own, so its single socket lives exactly as long as the pool
 * says, and it never reconnects: once Bun reports the socket closed, every
 * call rejects without sending anything.
 *
 * @example
 * ```ts ignore
 * import { ConnectionPool } from "@x/pool";
 * import { bunDriver } from "@x/pool/bun";
 *
 * const pool = new ConnectionPool({
 *   driver: bunDriver("postgres://app:secret@localhost/app"),
 * });
 * const { rows } = await pool.execute("select $1::int + 1 as n", [41]);
 * console.log(rows[0].n); // 42
 * await pool.close();
 * ```
 *
 * @module
 */

import type { Driver, DriverConnection, ServerErrorKind } from "../driver.ts";
import { BunConnection } from "./_bun_connection.ts";
import { type ResolvedOptions, resolveOptions } from "./_bun_options.ts";
import { bunSqlConstructor } from "./_bun_sql.ts";
import { canRetryConnect, classifyError } from "./_sqlstate.ts";

/**
 * Connection options. Names and units follow `postgresDriver`'s options
 * where both clients have the option: times are in **seconds**. Other
 * `Bun.SQL` options pass through untyped.
 *
 * Every connection option is passed to `Bun.SQL` explicitly, so it never
 * fills one from a `PG*`, `DATABASE_URL` or `POSTGRES_URL` environment
 * variable.
 *
 * The pool owns each connection's lifetime, so the `Bun.SQL` options `max`,
 * `idleTimeout`, `maxLifetime`, `onconnect`, `onclose`, `adapter` and `url`
 * (and their aliases) are refused; `connect_timeout` replaces
 * `connectionTimeout`.
 *
 * @example
 * ```ts
 * import type { BunDriverOptions } from "@x/pool/bun";
 *
 * const options: BunDriverOptions = {
 *   host: "db.internal",
 *   username: "app",
 *   password: "secret",
 *   database: "app",
 *   connect_timeout: 5,
 *   connection: { application_name: "api" },
 * };
 * ```
 */
export interface BunDriverOptions {
  /** Host name or IP address (one host); a directory for a Unix socket. Default `"localhost"`. */
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
   * TLS: `false` or `"disable"` (the default), `"require"` (no certificate
   * check), `"verify-full"` or `true` (checked), or Bun's TLS options.
   * Bun.SQL has no `"prefer"` or `"allow"`: it never falls back to plain TCP.
   */
  ssl?: boolean | "disable" | "require" | "verify-full" | Record<string, unknown>;
  /** Seconds for TCP, TLS and authentication together. Default `30`. */
  connect_timeout?: number;
  /**
   * Use named prepared statements, cached per connection. Default `true`,
   * as in Bun.SQL, and `false` with `pooler`. Set `false` for SQL text built
   * with varying literals, of which each connection would keep one prepared
   * statement per variant on the server until it closes. With `pooler`, set
   * `true` only in front of PgBouncer 1.21 or later with
   * `max_prepared_statements` above 0. Before that, even outside a
   * transaction: Bun names statements `P0`, `P1`, ... per connection, so two
   * connections on one backend collide (42P05), and it prepares a new
   * statement in an exchange of its own (Parse, Describe, Sync) before
   * running it (Bind, Execute, Sync), which may reach another backend
   * (26000).
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
   *   statement with parameters is parsed, bound and executed in one
   *   exchange (the unnamed statement, one Sync) on the backend it reaches;
   * - the pool's `resetSession` is refused, and `discard()` rejects, as a
   *   session reset would reach whichever backend the pooler picks, not the
   *   one a user changed;
   * - nothing else changes: the driver never pipelines (one statement in
   *   flight per connection, in either mode), a transaction stays on one
   *   backend until `COMMIT` or `ROLLBACK`, and cancel requests go through
   *   the pooler, which forwards them to the backend running the statement.
   *
   * The startup parameters Bun sends itself (`client_encoding`, `DateStyle`)
   * are ones PgBouncer tracks; a parameter in `connection` other than
   * `application_name` may not be (PgBouncer 1.18 then refuses the login).
   * Session state (`SET` outside a transaction, advisory locks, `LISTEN`,
   * temporary tables) does not follow a connection behind such a pooler:
   * keep it inside a transaction, or use a direct connection.
   */
  pooler?: "transaction";
  /**
   * Return `int8` (and other integers beyond 32 bits) as `bigint` rather
   * than as strings. Default `false`.
   */
  bigint?: boolean;
  /**
   * Server parameters sent at startup, such as `application_name` (default:
   * none), `search_path` or `statement_timeout`.
   */
  connection?: Record<string, string | number | boolean>;
}

/**
 * Creates a driver that opens PostgreSQL connections with Bun's built-in
 * client, `Bun.SQL`. Semantics match `postgresDriver`'s: one dedicated
 * socket per connection that never reconnects, statements one at a time,
 * `dirty` from the command tags, server-side cancel on abort, and errors
 * carrying their SQLSTATE in `code`. Where the clients differ:
 *
 * - **Several statements**: a query **without parameters** goes over the
 *   simple protocol and may hold several statements; the result is the last
 *   statement's. Inside such a query, `COMMIT` and `ROLLBACK` count as
 *   leaving a transaction open (the driver cannot tell them from `ROLLBACK
 *   TO SAVEPOINT`), and a failure counts as leaving one open, so the pool
 *   sends a `ROLLBACK` on release. A query with parameters is one statement.
 * - **Errors**: a server error's `code` is its SQLSTATE (Bun's own code,
 *   such as `ERR_POSTGRES_SERVER_ERROR`, moves to `bunCode`; `errno` keeps
 *   the SQLSTATE as Bun puts it); a refused socket has `code`
 *   `"ECONNREFUSED"`, a closed one `"CONNECTION_CLOSED"`, a connect timeout
 *   `"CONNECT_TIMEOUT"`.
 * - **Values**: `undefined` parameters are sent as `NULL` (postgres.js
 *   refuses them); untyped parameters keep their JS type (`select $1` with
 *   `1.5` returns `1.5`). Arrays come back as plain arrays: the driver turns
 *   the `Int32Array` and `Float32Array` Bun returns for some array columns
 *   into arrays. Notices are dropped: Bun.SQL has no notice callback.
 * - **Behind PgBouncer in transaction mode**, pass `pooler: "transaction"`;
 *   see {@linkcode BunDriverOptions.pooler}.
 * - **Abort**: Bun does not tell when its cancel request has reached the
 *   server, so when a statement ends without having been cancelled after a
 *   cancel was sent, the connection closes rather than risk the request
 *   cancelling the next statement.
 *
 * @param urlOrOptions A `postgres://` or `postgresql://` URL with one host,
 * or connection options.
 * @param driverOptions More options, overriding those of the first argument.
 * @returns A driver for a pool.
 * @throws {Error} When not running on Bun.
 * @throws {TypeError} When no username is given, an option the pool owns
 * (`max`, `idleTimeout`, `maxLifetime`, ...) is, or `pooler` is not
 * `"transaction"`.
 * @throws {RangeError} When the port is not an integer from 1 to 65535,
 * `connect_timeout` is not a positive number, `ssl` is not a known mode, or
 * several hosts are given.
 *
 * @example From a URL
 * ```ts ignore
 * import { bunDriver } from "@x/pool/bun";
 *
 * const driver = bunDriver("postgres://app:secret@localhost:5432/app", {
 *   connection: { application_name: "api" },
 * });
 * ```
 *
 * @example From options
 * ```ts ignore
 * import { bunDriver } from "@x/pool/bun";
 *
 * const driver = bunDriver({
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
 * ```ts ignore
 * import { bunDriver } from "@x/pool/bun";
 *
 * const driver = bunDriver("postgres://app:secret@pgbouncer.internal:6432/app", {
 *   pooler: "transaction",
 * });
 * ```
 */
export function bunDriver(
  urlOrOptions: string | BunDriverOptions,
  driverOptions?: BunDriverOptions,
): Driver {
  const SQL = bunSqlConstructor();
  if (SQL === undefined) {
    throw new Error(
      "Cannot create the Bun.SQL driver: Bun.SQL needs Bun, and this runtime is not Bun; " +
        'use postgresDriver from "@x/pool/postgres" instead',
    );
  }
  const options = resolveOptions(urlOrOptions, driverOptions);
  return new BunDriver(SQL, options);
}

class BunDriver implements Driver {
  readonly #SQL: NonNullable<ReturnType<typeof bunSqlConstructor>>;
  readonly #options: ResolvedOptions;
  readonly sharesSessions: boolean;

  constructor(SQL: NonNullable<ReturnType<typeof bunSqlConstructor>>, options: ResolvedOptions) {
    this.#SQL = SQL;
    this.#options = options;
    this.sharesSessions = options.pooler !== undefined;
  }

  connect(signal: AbortSignal): Promise<DriverConnection> {
    try {
      signal.throwIfAborted();
      return BunConnection.open(this.#SQL, this.#options, signal);
    } catch (error) {
      // Bun.SQL's constructor throws for options it refuses.
      return Promise.reject(error);
    }
  }

  canRetryConnect(error: unknown): boolean {
    return canRetryConnect(error);
  }

  classifyError(error: unknown): ServerErrorKind | undefined {
    return classifyError(error);
  }
}
