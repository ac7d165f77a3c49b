/**
 * The options of `bunDriver`: Bun.SQL connection options plus the pool's own.
 *
 * @module
 */

import type { TargetSessionAttrs } from "../_shared/target_session.ts";

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
  /**
   * Host name or IP address, or several separated by commas (each may have
   * its own `:port`); a directory for a Unix socket. Default `"localhost"`.
   */
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
   * TLS, as libpq's `sslmode` (also read from a URL's `sslmode`): `false`
   * or `"disable"` (the default); `"allow"` and `"prefer"` (TLS when the
   * server offers it, else plain TCP) and `"require"` (no certificate
   * check); `"verify-ca"` (the certificate chain is checked);
   * `"verify-full"` or `true` (the chain and the host name are checked); or
   * Bun's TLS options.
   */
  ssl?:
    | boolean
    | "disable"
    | "allow"
    | "prefer"
    | "require"
    | "verify-ca"
    | "verify-full"
    | Record<string, unknown>;
  /**
   * A file of CA certificates (PEM) to check the server's certificate
   * against, as libpq's `sslrootcert` (also read from a URL's
   * `sslrootcert`), read when the driver is created; with it, `"require"`
   * checks the chain as `"verify-ca"` does. `"system"` in a URL means the
   * system's CAs and `"verify-full"`. Not with TLS options: set their `ca`.
   */
  sslrootcert?: string;
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
  /**
   * With several hosts (`"a:5432,b:5432"`, or in the URL), which kind of
   * server to use, as libpq's `target_session_attrs`: the driver tries the
   * hosts in order and checks each server in one round trip after logging
   * in (`read-write`: `transaction_read_only` off; `primary`: not in
   * recovery). A session opened for `read-write` or `primary` ends on a
   * 25006 (read-only) error, so the pool's next connect finds the new
   * primary after a failover. Default `"any"`.
   */
  target_session_attrs?: TargetSessionAttrs;
}
