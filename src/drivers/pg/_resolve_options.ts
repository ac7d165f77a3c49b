import type { PgDriverOptions } from "./options.ts";
import { checkPort, mergeOptions, type Pooler, resolveLogin } from "../_shared/driver_options.ts";
import { parseConnectionUrl, resolveHosts } from "../_shared/connection_url.ts";
import { resolveTls, type Tls, verifying } from "../_shared/tls.ts";
import { type TargetSessionAttrs, targetSessionAttrs } from "../_shared/target_session.ts";

/** Where a connection's socket goes: also where its cancel requests go. */
export interface Endpoint {
  /** A host name or IP address; a directory for a Unix socket. */
  host: string;
  port: number;
}

/** What each `pg.Client` is created with, once resolved. */
export interface ResolvedOptions {
  /** Handed to `new pg.Client(...)`, but `ssl`. */
  client: Record<string, unknown>;
  /** `pg.Client`'s `ssl` for the first attempt. */
  ssl: boolean | Record<string, unknown>;
  /** Whether a server that refuses TLS is tried again over plain TCP (`"allow"`, `"prefer"`). */
  plainIfRefused: boolean;
  endpoint: Endpoint;
  /** Seconds for TCP, TLS and authentication together; also for a cancel request or a close. */
  connectTimeout: number;
  pooler: Pooler | undefined;
  onnotice: ((notice: Record<string, unknown>) => void) | undefined;
  /** What server a connection must reach. */
  targetSessionAttrs: TargetSessionAttrs;
  /** Each host, in the order to try them; `endpoint` is the first. */
  hosts: Endpoint[];
}

const DRIVER = "pg";

/** `pg.Client` options the pool owns. */
const OWNED_OPTIONS = ["connectionString", "query_timeout", "pipeline"] as const;

/** `pg.Client` options this driver takes under another name, and that name. */
const RENAMED: Readonly<Record<string, string>> = {
  connectionTimeoutMillis: '"connect_timeout" (seconds)',
  keepAlive: '"keep_alive" (seconds)',
  keepAliveInitialDelayMillis: '"keep_alive" (seconds)',
  application_name: "connection: { application_name }",
};

/**
 * Merges a URL or options with more options into the options of one
 * `pg.Client`: the login, the endpoint and TLS explicit (so node-postgres
 * reads no `PG*` environment variable for them), and one socket whose
 * lifetime the pool owns.
 */
export function resolveOptions(
  urlOrOptions: string | PgDriverOptions,
  driverOptions: PgDriverOptions | undefined,
): ResolvedOptions {
  if (typeof urlOrOptions !== "string" && (typeof urlOrOptions !== "object" || !urlOrOptions)) {
    throw new TypeError(
      `Cannot create the pg driver: urlOrOptions (${
        String(urlOrOptions)
      }) is neither a URL nor options`,
    );
  }
  const base: Record<string, unknown> = typeof urlOrOptions === "string"
    ? fromUrl(urlOrOptions)
    : { ...urlOrOptions };
  const given = mergeOptions(base, { ...driverOptions }, OWNED_OPTIONS, DRIVER);
  for (const [key, instead] of Object.entries(RENAMED)) {
    if (given[key] !== undefined) {
      throw new TypeError(`Cannot create the pg driver: "${key}" is not supported; use ${instead}`);
    }
  }
  const { login, pooler, rest } = resolveLogin(given, DRIVER);
  const {
    hostname,
    hosts: urlHosts,
    target_session_attrs,
    ssl,
    sslrootcert,
    connect_timeout,
    keep_alive,
    connection,
    onnotice,
    ...others
  } = rest;
  const port = checkPort(given.port, DRIVER);
  const connectTimeout = positiveSeconds(connect_timeout ?? 30, "connect_timeout");
  const keepAlive = keep_alive === null ? null : positiveSeconds(keep_alive ?? 60, "keep_alive");
  const attrs = targetSessionAttrs(target_session_attrs, DRIVER);
  // pg.Client takes one host: the driver walks a list itself.
  const hosts = resolveHosts(given.host ?? hostname, urlHosts, port, DRIVER);
  const host = hosts[0].host;
  const { application_name, options, ...settings } = connection as Record<string, unknown>;
  const tls = resolveTls(ssl, sslrootcert, DRIVER);
  return {
    client: {
      ...others,
      user: login.username,
      password: login.password,
      database: login.database,
      host,
      port,
      // Truthy, or node-postgres would read PGAPPNAME.
      application_name: String(application_name ?? "") || "node-postgres",
      options: startupOptions(options, settings),
      connectionTimeoutMillis: connectTimeout * 1000,
      keepAlive: keepAlive !== null,
      keepAliveInitialDelayMillis: (keepAlive ?? 0) * 1000,
    },
    ssl: pgSsl(tls),
    plainIfRefused: "mode" in tls && (tls.mode === "allow" || tls.mode === "prefer"),
    endpoint: { host, port },
    connectTimeout,
    pooler,
    onnotice: onnotice as ResolvedOptions["onnotice"],
    targetSessionAttrs: attrs,
    hosts,
  };
}

/** The options of a `pg.Client` for one of the hosts only. */
export function forHost(options: ResolvedOptions, endpoint: Endpoint): ResolvedOptions {
  return { ...options, client: { ...options.client, ...endpoint }, endpoint };
}

/** A URL's options, with the parameters this driver takes as options taken out of `connection`. */
function fromUrl(text: string): Record<string, unknown> {
  const { connection, ...url } = parseConnectionUrl(text, DRIVER);
  const options: Record<string, unknown> = { ...url, connection };
  if ("keep_alive" in connection) {
    options.keep_alive = Number(connection.keep_alive);
    delete connection.keep_alive;
  }
  if ("target_session_attrs" in connection) {
    options.target_session_attrs = connection.target_session_attrs;
    delete connection.target_session_attrs;
  }
  return options;
}

/**
 * The `options` startup parameter: the one given as such, then each other
 * setting as `-c name=value`, white space and backslashes escaped as the
 * server reads them. `undefined` when empty.
 */
function startupOptions(
  options: unknown,
  settings: Record<string, unknown>,
): string | undefined {
  const escape = (text: string) => text.replace(/[\\\s]/g, "\\$&");
  const parts = Object.entries(settings).filter(([, value]) => value !== undefined).map((
    [name, value],
  ) => `-c ${escape(name)}=${escape(String(value))}`);
  if (options !== undefined && options !== "") parts.unshift(String(options));
  return parts.length === 0 ? undefined : parts.join(" ");
}

/**
 * node-postgres's `ssl` for libpq's mode. It cannot fall back to plain TCP
 * by itself, so for `"allow"` and `"prefer"` the driver does (see
 * `plainIfRefused`).
 */
function pgSsl(tls: Tls): boolean | Record<string, unknown> {
  if ("custom" in tls) return tls.custom;
  if (tls.mode === "disable") return false;
  if (tls.mode === "verify-full" && tls.ca === undefined) return true;
  if (tls.mode === "verify-ca" || tls.mode === "verify-full") return verifying(tls);
  return { rejectUnauthorized: false };
}

function positiveSeconds(value: unknown, name: string): number {
  if (typeof value !== "number" || !(value > 0) || value === Infinity) {
    throw new RangeError(
      `Cannot create the pg driver: ${name} (${String(value)}) is not a positive number of seconds`,
    );
  }
  return value;
}
