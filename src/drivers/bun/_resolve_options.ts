import type { BunDriverOptions } from "./options.ts";
import { checkPooler, mergeOptions, type Pooler } from "../_shared/driver_options.ts";

/** What one `Bun.SQL` instance is created with, once resolved, minus `onclose`. */
export interface ResolvedOptions {
  /** Handed to `new Bun.SQL(...)`, with the driver's `onclose` added. */
  bun: Record<string, unknown>;
  /** Seconds for TCP, TLS and authentication together. */
  connectTimeout: number;
  /** The pooler between the driver and the server, if one was named. */
  pooler: Pooler | undefined;
}

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
    ? parseUrl(urlOrOptions)
    : { ...urlOrOptions };
  const given = mergeOptions(base, { ...driverOptions }, OWNED_OPTIONS, "Bun.SQL");
  for (const key of TIMEOUT_ALIASES) {
    if (given[key] !== undefined) {
      throw new TypeError(
        `Cannot create the Bun.SQL driver: "${key}" is not supported; use "connect_timeout" (seconds)`,
      );
    }
  }
  const { user, pass, db, hostname, ssl, connect_timeout, pooler: givenPooler, ...rest } = given;
  const pooler = checkPooler(givenPooler, "Bun.SQL");
  const username = given.username ?? user;
  if (typeof username !== "string" || username === "") {
    throw new TypeError("Cannot create the Bun.SQL driver: no username in the URL or options");
  }
  const port = Number(given.port ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot create the Bun.SQL driver: port (${given.port}) is not an integer from 1 to 65535`,
    );
  }
  const connectTimeout = connect_timeout ?? 30;
  if (typeof connectTimeout !== "number" || !(connectTimeout > 0) || connectTimeout === Infinity) {
    throw new RangeError(
      `Cannot create the Bun.SQL driver: connect_timeout (${
        String(connect_timeout)
      }) is not a positive number of seconds`,
    );
  }
  const host = String(given.host ?? hostname ?? "localhost");
  if (host.includes(",")) {
    throw new RangeError(
      `Cannot create the Bun.SQL driver: host (${host}) lists several hosts, which Bun.SQL does not support`,
    );
  }
  const password = given.password ?? pass;
  return {
    connectTimeout,
    pooler,
    bun: {
      ...rest,
      adapter: "postgres",
      hostname: host,
      port,
      path: given.path ?? (host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined),
      username,
      database: String(given.database ?? db ?? username),
      // A function, as Bun may read PGPASSWORD for an empty password.
      password: password || (() => ""),
      tls: tlsOption(ssl),
      connectionTimeout: connectTimeout,
      // Behind a transaction pooler, the next statement may reach a backend
      // that never saw the Parse of a named statement.
      prepare: given.prepare ?? pooler === undefined,
      bigint: given.bigint ?? false,
      connection: given.connection,
      max: 1,
      idleTimeout: 0,
      maxLifetime: 0,
    },
  };
}

/** Bun's `tls` option for the driver's `ssl` option. */
function tlsOption(ssl: unknown): unknown {
  if (ssl === undefined || ssl === false || ssl === "disable") return false;
  if (ssl === true || ssl === "verify-full") return true;
  if (ssl === "require") return { rejectUnauthorized: false };
  if (typeof ssl === "object" && ssl !== null) return ssl;
  throw new RangeError(
    `Cannot create the Bun.SQL driver: ssl (${
      String(ssl)
    }) is not one of false, "disable", "require", "verify-full", true or TLS options`,
  );
}

/** Splits a `postgres://` URL with one host into options. */
function parseUrl(text: string): Record<string, unknown> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Cannot create the Bun.SQL driver: "${text}" is not a URL`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new TypeError(
      `Cannot create the Bun.SQL driver: the URL's scheme (${url.protocol}) is not postgres: or postgresql:`,
    );
  }
  const options: Record<string, unknown> = {};
  const connection: Record<string, string> = {};
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.hostname) options.host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  if (url.port) options.port = Number(url.port);
  if (url.pathname.length > 1) options.database = decodeURIComponent(url.pathname.slice(1));
  for (const [key, value] of url.searchParams) {
    if (key === "sslmode" || key === "ssl") {
      options.ssl = value === "false" ? false : value === "true" ? true : value;
    } else if (key === "connect_timeout") {
      options.connect_timeout = Number(value);
    } else {
      connection[key] = value;
    }
  }
  options.connection = connection;
  return options;
}
