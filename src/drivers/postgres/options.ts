/**
 * The options of `postgresDriver`: postgres.js connection options plus the pool's own.
 *
 * @module
 */

import type { TargetSessionAttrs } from "../_shared/target_session.ts";

/**
 * Connection options, handed to postgres.js as they are (other postgres.js
 * options, such as `transform` or `socket`, pass through untyped). Times are
 * in **seconds**, as postgres.js counts them.
 *
 * Every connection option is passed to postgres.js explicitly, so it never
 * fills one from a `PG*` environment variable. The exception is
 * `target_session_attrs`: when it is not given, postgres.js reads
 * `PGTARGETSESSIONATTRS` and checks it itself, with its own weaker check.
 *
 * The pool owns each connection's lifetime, so the postgres.js options
 * `max`, `idle_timeout`, `max_lifetime`, `fetch_types`, `onclose`, `backoff`
 * and `timeout` are refused.
 *
 * @example
 * ```ts
 * import type { PostgresDriverOptions } from "@x/pool/postgres";
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
   * TLS, as libpq's `sslmode` (also read from a URL's `sslmode`): `false`
   * or `"disable"` (the default); `"allow"` and `"prefer"` (TLS when the
   * server offers it, else plain TCP: postgres.js cannot try plain TCP
   * first) and `"require"` (no certificate check); `"verify-ca"` (the
   * certificate chain is checked); `"verify-full"` or `true` (the chain and
   * the host name are checked); or an object of `tls.connect` options.
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
 * import type { PostgresCustomType } from "@x/pool/postgres";
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
