/**
 * The options of `pgDriver`: node-postgres connection options plus the pool's own.
 *
 * @module
 */

import type { TargetSessionAttrs } from "../_shared/target_session.ts";

/**
 * Connection options. Names and units follow `postgresDriver`'s options
 * where both clients have the option: times are in **seconds**. Other
 * `pg.Client` options (such as `binary`) pass through untyped.
 *
 * Host, port, user, password, database, the TLS mode and
 * `application_name` are passed to `pg.Client` explicitly, so it never
 * fills them from a `PG*` environment variable. It still reads those of
 * settings left to it: `PGOPTIONS` when `connection` holds no parameter
 * other than `application_name`, and `PGSSLNEGOTIATION`.
 *
 * The pool owns each connection's lifetime, so the `pg.Client` options
 * `connectionString`, `query_timeout` and `pipeline` are refused;
 * `connect_timeout` replaces `connectionTimeoutMillis`, `keep_alive`
 * replaces `keepAlive` and `keepAliveInitialDelayMillis`, and
 * `connection: { application_name }` replaces `application_name`.
 *
 * @example
 * ```ts
 * import type { PgDriverOptions } from "@x/pool/pg";
 *
 * const options: PgDriverOptions = {
 *   host: "db.internal",
 *   username: "app",
 *   password: "secret",
 *   database: "app",
 *   connect_timeout: 5,
 *   connection: { application_name: "api" },
 * };
 * ```
 */
export interface PgDriverOptions {
  /**
   * Host name or IP address, or several separated by commas (each may have
   * its own `:port`); a directory for a Unix socket. Default `"localhost"`.
   */
  host?: string;
  /** TCP port. Default `5432`. */
  port?: number;
  /** Role to log in as. Required, in the URL or here (`user` is taken too). */
  username?: string;
  /** Role to log in as, under node-postgres's name for it; `username` wins. */
  user?: string;
  /** Password, or a function returning it. Default: none. */
  password?: string | (() => string | Promise<string>);
  /** Database name. Default: the username. */
  database?: string;
  /**
   * TLS, as libpq's `sslmode` (also read from a URL's `sslmode`): `false`
   * or `"disable"` (the default); `"allow"` and `"prefer"` (TLS with no
   * certificate check when the server offers it, else plain TCP: the driver
   * tries TLS first and connects again without it if the server refuses);
   * `"require"` (no certificate check); `"verify-ca"` (the certificate chain
   * is checked); `"verify-full"` or `true` (the chain and the host name are
   * checked); or an object of `tls.connect` options.
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
   * The pooler between the driver and the server, when one shares server
   * sessions between clients: `"transaction"` for PgBouncer in transaction
   * mode (`pool_mode = transaction`) or any pooler that lends a backend for
   * one transaction at a time. Default: none, each connection is a session
   * of its own (as also behind a pooler in session mode).
   *
   * With `"transaction"`, the pool's `resetSession` is refused, and
   * `discard()` rejects, as a session reset would reach whichever backend
   * the pooler picks, not the one a user changed. Nothing else changes:
   * this driver never names its statements, so it prepares nothing a
   * pooler could lose (each statement with parameters is parsed, bound and
   * executed in one exchange), it never pipelines, a transaction stays on
   * one backend until `COMMIT` or `ROLLBACK`, and cancel requests go
   * through the pooler, which forwards them to the backend running the
   * statement.
   *
   * Session state (`SET` outside a transaction, advisory locks, `LISTEN`,
   * temporary tables) does not follow a connection behind such a pooler:
   * keep it inside a transaction, or use a direct connection.
   */
  pooler?: "transaction";
  /**
   * Server parameters sent at startup, such as `application_name` (default
   * `"node-postgres"`), `search_path` or `statement_timeout`. node-postgres
   * sends `application_name` as a startup parameter of its own; the others
   * go in the `options` startup parameter as `-c name=value`, which a
   * pooler may refuse (PgBouncer does unless it is told to ignore
   * `options`).
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
   * Called with each notice or warning the server sends, as node-postgres
   * parses it (`severity`, `code`, `message`, ...). Default: ignored.
   */
  onnotice?: (notice: Record<string, unknown>) => void;
  /**
   * Column parsers, as node-postgres's `types` option: `getTypeParser(oid,
   * format)` returns the function that turns a column's text into a value.
   * Default: node-postgres's own (`pg.types`).
   */
  types?: PgTypeParsers;
}

/**
 * The column parsers of {@linkcode PgDriverOptions.types}, as node-postgres
 * takes them; `pg.types` is one.
 *
 * @example `int8` columns as `bigint`
 * ```ts
 * import type { PgTypeParsers } from "@x/pool/pg";
 *
 * declare const defaults: PgTypeParsers; // pg.types, from `import pg from "pg"`
 *
 * const types: PgTypeParsers = {
 *   getTypeParser: (oid, format) =>
 *     oid === 20 ? (text: string) => BigInt(text) : defaults.getTypeParser(oid, format),
 * };
 * ```
 */
export interface PgTypeParsers {
  /** The parser of the type `oid` in `format` (`"text"` unless the client asked for binary). */
  getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown;
}
