import type postgres from "postgres";
import type { PostgresDriverOptions } from "./options.ts";
import { checkPort, mergeOptions, type Pooler, resolveLogin } from "../_shared/driver_options.ts";
import { parseConnectionUrl, resolveHosts } from "../_shared/connection_url.ts";
import { resolveTls, type Tls, verifying } from "../_shared/tls.ts";
import { type TargetSessionAttrs, targetSessionAttrs } from "../_shared/target_session.ts";

/** Options as handed to postgres.js, once resolved. */
export type Options = postgres.Options<Record<string, postgres.PostgresType>>;

/** What {@linkcode resolveOptions} returns: postgres.js's options and the driver's own. */
export interface ResolvedOptions {
  /** For each connection's postgres.js instance. */
  options: Options;
  /** The pooler between the driver and the server, if one was named. */
  pooler: Pooler | undefined;
  /** What server a connection must reach; the driver checks it, not postgres.js. */
  targetSessionAttrs: TargetSessionAttrs;
  /** Each host with its port, in the order to try them. */
  hosts: { host: string; port: number }[];
}

const OWNED_OPTIONS = [
  "max",
  "idle_timeout",
  "max_lifetime",
  "fetch_types",
  "onclose",
  "backoff",
  "timeout",
] as const;

const DRIVER = "postgres";
const noop = () => {};

/**
 * Merges a URL or options with more options into the options of one
 * postgres.js instance: every connection option explicit (so postgres.js
 * reads no `PG*` environment variable for it), and one socket whose lifetime
 * the pool owns.
 */
export function resolveOptions(
  urlOrOptions: string | PostgresDriverOptions,
  driverOptions: PostgresDriverOptions | undefined,
): ResolvedOptions {
  const base: Record<string, unknown> = typeof urlOrOptions === "string"
    ? fromUrl(urlOrOptions)
    : { ...urlOrOptions };
  const given = mergeOptions(base, { ...driverOptions }, OWNED_OPTIONS, DRIVER);
  const { login, pooler, rest } = resolveLogin(given, DRIVER);
  const { hostname, hosts: urlHosts, sslrootcert, target_session_attrs, ...others } = rest;
  const attrs = targetSessionAttrs(target_session_attrs, DRIVER);
  const port = checkPort(given.port, DRIVER);
  const hosts = resolveHosts(given.host ?? hostname, urlHosts, port, DRIVER);
  const options = {
    ...others,
    ...login,
    // Arrays, so postgres.js does not split a host on ':' (IPv6).
    host: hosts.map((each) => each.host),
    port: hosts.map((each) => each.port),
    path: given.path ??
      (hosts.length === 1 && hosts[0].host.startsWith("/")
        ? `${hosts[0].host}/.s.PGSQL.${hosts[0].port}`
        : undefined),
    ssl: postgresSsl(resolveTls(given.ssl, sslrootcert, DRIVER)),
    sslnegotiation: given.sslnegotiation ?? null,
    connect_timeout: given.connect_timeout ?? 30,
    keep_alive: given.keep_alive ?? 60,
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
  return {
    options,
    pooler,
    targetSessionAttrs: attrs,
    hosts,
  };
}

/** The options of a postgres.js instance for one of the hosts only. */
export function forHost(options: Options, { host, port }: { host: string; port: number }): Options {
  const path = host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined;
  return { ...options, host: [host], port: [port], path } as Record<string, unknown> as Options;
}

/** A URL's options, with the parameters postgres.js takes as options taken out of `connection`. */
function fromUrl(text: string): Record<string, unknown> {
  const { connection, ...url } = parseConnectionUrl(text, DRIVER);
  const options: Record<string, unknown> = { ...url, connection };
  for (const key of ["keep_alive", "target_session_attrs", "sslnegotiation"]) {
    if (!(key in connection)) continue;
    options[key] = key === "keep_alive" ? Number(connection[key]) : connection[key];
    delete connection[key];
  }
  return options;
}

/**
 * postgres.js's `ssl` for libpq's mode. It cannot try plain TCP first, so
 * `"allow"` is `"prefer"`: both connect to a server with TLS or without.
 */
function postgresSsl(tls: Tls): Options["ssl"] {
  if ("custom" in tls) return tls.custom;
  const { mode } = tls;
  if (mode === "disable") return false;
  if (mode === "allow" || mode === "prefer") return "prefer";
  if (mode === "require" || (mode === "verify-full" && tls.ca === undefined)) return mode;
  return verifying(tls);
}
