import type { BunDriverOptions } from "./options.ts";
import { checkPort, mergeOptions, type Pooler, resolveLogin } from "../_shared/driver_options.ts";
import { parseConnectionUrl, resolveHosts } from "../_shared/connection_url.ts";
import { resolveTls, type Tls, verifying } from "../_shared/tls.ts";
import { type TargetSessionAttrs, targetSessionAttrs } from "../_shared/target_session.ts";

/** What one `Bun.SQL` instance is created with, once resolved, minus `onclose`. */
export interface ResolvedOptions {
  /** Handed to `new Bun.SQL(...)`, with the driver's `onclose` added. */
  bun: Record<string, unknown>;
  /** Seconds for TCP, TLS and authentication together. */
  connectTimeout: number;
  /** The pooler between the driver and the server, if one was named. */
  pooler: Pooler | undefined;
  /** What server a connection must reach. */
  targetSessionAttrs: TargetSessionAttrs;
  /** Each host with its port, in the order to try them. */
  hosts: { host: string; port: number }[];
}

const DRIVER = "Bun.SQL";

/** Options the pool owns, under the names `Bun.SQL` takes them. */
const OWNED_OPTIONS = [
  "max",
  "idleTimeout",
  "idle_timeout",
  "maxLifetime",
  "max_lifetime",
  "onclose",
  "onconnect",
  "adapter",
  "url",
] as const;

/** `Bun.SQL`'s other names for `connect_timeout`, which would hide it. */
const TIMEOUT_ALIASES = ["connectionTimeout", "connection_timeout", "connectTimeout"] as const;

/**
 * Merges a URL or options with more options into the options of one
 * `Bun.SQL` instance: every connection option explicit (so Bun reads no
 * `PG*`, `DATABASE_URL` or `POSTGRES_URL` environment variable for it), and
 * one socket whose lifetime the pool owns.
 */
export function resolveOptions(
  urlOrOptions: string | BunDriverOptions,
  driverOptions: BunDriverOptions | undefined,
): ResolvedOptions {
  if (typeof urlOrOptions !== "string" && (typeof urlOrOptions !== "object" || !urlOrOptions)) {
    throw new TypeError(
      `Cannot create the Bun.SQL driver: urlOrOptions (${
        String(urlOrOptions)
      }) is neither a URL nor options`,
    );
  }
  const base: Record<string, unknown> = typeof urlOrOptions === "string"
    ? fromUrl(urlOrOptions)
    : { ...urlOrOptions };
  const given = mergeOptions(base, { ...driverOptions }, OWNED_OPTIONS, DRIVER);
  for (const key of TIMEOUT_ALIASES) {
    if (given[key] !== undefined) {
      throw new TypeError(
        `Cannot create the Bun.SQL driver: "${key}" is not supported; use "connect_timeout" (seconds)`,
      );
    }
  }
  const { login, pooler, rest } = resolveLogin(given, DRIVER);
  const {
    hostname,
    hosts: urlHosts,
    ssl,
    sslrootcert,
    connect_timeout,
    target_session_attrs,
    ...others
  } = rest;
  const attrs = targetSessionAttrs(target_session_attrs, DRIVER);
  const port = checkPort(given.port, DRIVER);
  const connectTimeout = connect_timeout ?? 30;
  if (typeof connectTimeout !== "number" || !(connectTimeout > 0) || connectTimeout === Infinity) {
    throw new RangeError(
      `Cannot create the Bun.SQL driver: connect_timeout (${
        String(connect_timeout)
      }) is not a positive number of seconds`,
    );
  }
  // Bun.SQL takes one host: the driver walks a list itself.
  const hosts = resolveHosts(given.host ?? hostname, urlHosts, port, DRIVER);
  const host = hosts[0].host;
  return {
    connectTimeout,
    pooler,
    targetSessionAttrs: attrs,
    hosts,
    bun: {
      ...others,
      ...login,
      adapter: "postgres",
      hostname: host,
      port,
      path: given.path ?? (host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined),
      tls: bunTls(resolveTls(ssl, sslrootcert, DRIVER)),
      connectionTimeout: connectTimeout,
      bigint: given.bigint ?? false,
      connection: given.connection,
      max: 1,
      idleTimeout: 0,
      maxLifetime: 0,
    },
  };
}

/**
 * `Bun.SQL`'s `tls`: libpq's modes by name, which Bun takes, unless there
 * are CA certificates to check the server's against, which only its TLS
 * options can carry.
 */
function bunTls(tls: Tls): unknown {
  if ("custom" in tls) return tls.custom;
  const checks = tls.mode === "verify-ca" || tls.mode === "verify-full";
  return checks && tls.ca !== undefined ? verifying(tls) : tls.mode;
}

/** A URL's options, with `target_session_attrs` taken out of `connection`. */
function fromUrl(text: string): Record<string, unknown> {
  const { connection, ...options } = parseConnectionUrl(text, DRIVER);
  const { target_session_attrs, ...rest } = connection;
  return { ...options, connection: rest, target_session_attrs };
}

/** The options of a `Bun.SQL` instance for one of the hosts only. */
export function forHost(
  options: ResolvedOptions,
  { host, port }: { host: string; port: number },
): ResolvedOptions {
  const path = host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined;
  return { ...options, bun: { ...options.bun, hostname: host, port, path } };
}
