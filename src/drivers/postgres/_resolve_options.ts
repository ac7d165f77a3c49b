import type postgres from "postgres";
import type { PostgresDriverOptions } from "./options.ts";
import { checkPooler, mergeOptions, type Pooler } from "../_shared/driver_options.ts";

/** Options as handed to postgres.js, once resolved. */
export type Options = postgres.Options<Record<string, postgres.PostgresType>>;

/** What {@linkcode resolveOptions} returns: postgres.js's options and the driver's own. */
export interface ResolvedOptions {
  /** For each connection's postgres.js instance. */
  options: Options;
  /** The pooler between the driver and the server, if one was named. */
  pooler: Pooler | undefined;
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
    ? parseUrl(urlOrOptions)
    : { ...urlOrOptions };
  const given = mergeOptions(base, { ...driverOptions }, OWNED_OPTIONS, "postgres");
  const { user, pass, db, hostname, pooler: givenPooler, ...rest } = given;
  const pooler = checkPooler(givenPooler, "postgres");
  const username = given.username ?? user;
  if (typeof username !== "string" || username === "") {
    throw new TypeError(
      "Cannot create the postgres driver: no username in the URL or options",
    );
  }
  const port = Number(given.port ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot create the postgres driver: port (${given.port}) is not an integer from 1 to 65535`,
    );
  }
  const host = String(given.host ?? hostname ?? "localhost");
  const password = given.password ?? pass;
  // One host goes in as an array, so postgres.js does not split it on ':'
  // (IPv6); a comma-separated list is left for postgres.js to split.
  const several = host.includes(",");
  const options = {
    ...rest,
    host: several ? host : [host],
    port: several ? port : [port],
    path: given.path ??
      (host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined),
    username,
    database: String(given.database ?? db ?? username),
    // A function, because postgres.js reads PGPASSWORD for a falsy password.
    password: (password || (() => "")) as Options["password"],
    ssl: given.ssl ?? false,
    sslnegotiation: given.sslnegotiation ?? null,
    connect_timeout: given.connect_timeout ?? 30,
    keep_alive: given.keep_alive ?? 60,
    // Behind a transaction pooler, the next statement may reach a backend
    // that never saw the Parse of a named statement.
    prepare: given.prepare ?? pooler === undefined,
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
  return { options, pooler };
}

/** Splits a connection URL into options, the way postgres.js reads it. */
function parseUrl(text: string): Record<string, unknown> {
  const start = text.indexOf("://") + 3;
  const authority = text.slice(start).split(/[/?#]/, 1)[0];
  const at = authority.lastIndexOf("@") + 1;
  const hosts = authority.slice(at);
  const first = hosts.split(",")[0];
  // `URL` cannot parse several hosts; parse with the first one alone.
  const url = new URL(
    text.slice(0, start + at) + first + text.slice(start + authority.length),
  );
  const options: Record<string, unknown> = {};
  const connection: Record<string, string> = {};
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (hosts.includes(",")) {
    options.host = decodeURIComponent(hosts);
  } else if (url.hostname) {
    options.host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  }
  if (url.port) options.port = Number(url.port);
  if (url.pathname.length > 1) {
    options.database = decodeURIComponent(url.pathname.slice(1));
  }
  for (const [key, value] of url.searchParams) {
    if (key === "sslmode" || key === "ssl") {
      options.ssl = value === "disable" || value === "false" ? false : value;
    } else if (key === "sslrootcert") {
      if (value === "system") options.ssl = "verify-full";
    } else if (key === "connect_timeout" || key === "keep_alive") {
      options[key] = Number(value);
    } else if (key === "target_session_attrs" || key === "sslnegotiation") {
      options[key] = value;
    } else {
      connection[key] = value;
    }
  }
  options.connection = connection;
  return options;
}
