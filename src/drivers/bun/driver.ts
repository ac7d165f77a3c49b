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

import type { Driver, DriverConnection, ServerErrorKind } from "../../driver.ts";
import { BunConnection } from "./_connection.ts";
import { redactError, secretsIn, secretsOf } from "../_shared/redact.ts";
import { forHost, type ResolvedOptions, resolveOptions } from "./_resolve_options.ts";
import { connectToTarget, wantsWrites } from "../_shared/target_session.ts";
import type { BunDriverOptions } from "./options.ts";
import { bunSqlConstructor } from "./_sql.ts";
import { pipelinable } from "../_shared/pipelinable.ts";
import { canRetryConnect, canRetryTransaction, classifyError } from "../_shared/sqlstate.ts";
import { neverSent } from "../_shared/call.ts";

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
 * (`max`, `idleTimeout`, `maxLifetime`, ...) is, `pooler` is not
 * `"transaction"`, or the URL's scheme is not `postgres:` or `postgresql:`.
 * @throws {RangeError} When the port is not an integer from 1 to 65535,
 * `connect_timeout` is not a positive number, `ssl` (or the URL's
 * `sslmode`) is not a known mode, or several hosts are given.
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
  let options;
  try {
    options = resolveOptions(urlOrOptions, driverOptions);
  } catch (error) {
    throw redactError(error, secretsIn(urlOrOptions, driverOptions));
  }
  return new BunDriver(SQL, options);
}

class BunDriver implements Driver {
  readonly #SQL: NonNullable<ReturnType<typeof bunSqlConstructor>>;
  readonly #options: ResolvedOptions;
  readonly sharesSessions: boolean;

  /** The password's forms, kept out of connect errors. */
  readonly #secrets: readonly string[];

  constructor(SQL: NonNullable<ReturnType<typeof bunSqlConstructor>>, options: ResolvedOptions) {
    this.#SQL = SQL;
    this.#options = options;
    this.sharesSessions = options.pooler !== undefined;
    this.#secrets = secretsOf(options.bun.password);
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    signal.throwIfAborted();
    try {
      return await this.#connect(signal);
    } catch (error) {
      // Bun.SQL's constructor throws for options it refuses, with them in the message.
      throw redactError(error, this.#secrets);
    }
  }

  async #connect(signal: AbortSignal): Promise<DriverConnection> {
    const { hosts, targetSessionAttrs: attrs } = this.#options;
    if (hosts.length === 1 && attrs === "any") {
      return (await BunConnection.open(this.#SQL, this.#options, false, signal)).connection;
    }
    const connection = await connectToTarget(
      hosts,
      attrs,
      (host, check, signal) =>
        BunConnection.open(this.#SQL, forHost(this.#options, host), check, signal),
      signal,
    );
    connection.forWrites = wantsWrites(attrs);
    return connection;
  }

  canRetryConnect(error: unknown): boolean {
    return canRetryConnect(error);
  }

  pipelinable(text: string): boolean {
    // Behind a transaction pooler each statement may reach another backend.
    return !this.sharesSessions && pipelinable(text);
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
