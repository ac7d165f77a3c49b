/**
 * The connection URL both drivers take, read as libpq reads one:
 * `postgres[ql]://[user[:password]@][host[:port][,host[:port]...]][/database][?name=value&...]`,
 * an IPv6 address in brackets, user, password, host and database
 * percent-encoded. Its errors never show the user name or password.
 *
 * @module
 */

import { checkPort, type SslMode, sslMode } from "./driver_options.ts";

/** One host of a URL; an IPv6 address without its brackets. */
export interface UrlHost {
  host: string;
  port: number | undefined;
}

/** What a URL says, under the names of the drivers' options. */
export interface UrlOptions {
  username?: string;
  password?: string;
  database?: string;
  /** The URL's host, when it names one. */
  host?: string;
  port?: number;
  /** The URL's hosts, when it names several. */
  hosts?: UrlHost[];
  /** From `sslmode` (or `ssl`); `sslrootcert=system` makes it `"verify-full"`. */
  ssl?: SslMode;
  /** `sslrootcert`, a file of CA certificates, unless it is `system`. */
  sslrootcert?: string;
  connect_timeout?: number;
  /** The other query parameters, as startup parameters unless the driver takes them. */
  connection: Record<string, string>;
}

/**
 * Reads a `postgres://` or `postgresql://` URL.
 *
 * @param driver The driver's name in errors: `"postgres"`, `"Bun.SQL"`.
 * @throws {TypeError} Another scheme, or a part that is not valid percent-encoding.
 * @throws {RangeError} A port that is not an integer from 1 to 65535, or an unknown `sslmode`.
 */
export function parseConnectionUrl(text: string, driver: string): UrlOptions {
  const prefix = `Cannot create the ${driver} driver:`;
  const scheme = /^([a-z][a-z\d+.-]*):\/\//i.exec(text);
  if (scheme === null || !/^postgres(ql)?$/i.test(scheme[1])) {
    const shown = scheme === null ? "none" : `${scheme[1]}:`;
    throw new TypeError(
      `${prefix} the URL's scheme (${shown}) is not postgres: or postgresql:`,
    );
  }
  const rest = text.slice(scheme[0].length).split("#", 1)[0];
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? "" : rest.slice(authorityEnd);
  const queryStart = tail.indexOf("?");
  const path = queryStart < 0 ? tail : tail.slice(0, queryStart);
  const at = authority.lastIndexOf("@");
  const options: UrlOptions = { connection: {} };
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    const username = decodePart(
      colon < 0 ? userinfo : userinfo.slice(0, colon),
      "user name",
      prefix,
      false,
    );
    if (username !== "") options.username = username;
    const password = colon < 0
      ? ""
      : decodePart(userinfo.slice(colon + 1), "password", prefix, false);
    if (password !== "") options.password = password;
  }
  const hostList = authority.slice(at + 1);
  const hosts = hostList === "" ? [] : parseHosts(hostList, driver, true);
  if (hosts.length > 1) {
    options.hosts = hosts;
  } else if (hosts.length === 1) {
    if (hosts[0].host !== "") options.host = hosts[0].host;
    if (hosts[0].port !== undefined) options.port = hosts[0].port;
  }
  if (path.length > 1) options.database = decodePart(path.slice(1), "database", prefix, true);
  let systemRoots = false;
  for (const [key, value] of new URLSearchParams(queryStart < 0 ? "" : tail.slice(queryStart))) {
    if (key === "sslmode" || key === "ssl") {
      options.ssl = sslMode(value, key, driver) as SslMode;
    } else if (key === "sslrootcert") {
      // libpq's "system" verifies against the system's roots.
      if (value === "system") systemRoots = true;
      else options.sslrootcert = value;
    } else if (key === "connect_timeout") {
      options.connect_timeout = Number(value);
    } else {
      options.connection[key] = value;
    }
  }
  if (systemRoots) options.ssl = "verify-full";
  return options;
}

/**
 * The hosts a driver tries, in order, each with its port: a `host` option
 * replaces the URL's hosts, and a list in it is split; a host given without
 * a port takes `port`. Without either, `localhost`.
 */
export function resolveHosts(
  host: unknown,
  urlHosts: unknown,
  port: number,
  driver: string,
): { host: string; port: number }[] {
  const hosts = host === undefined
    ? urlHosts as UrlHost[] | undefined ?? [{ host: "localhost", port: undefined }]
    : String(host).includes(",")
    ? parseHosts(String(host), driver)
    : [{ host: String(host), port: undefined }];
  return hosts.map((each) => ({ host: each.host, port: each.port ?? port }));
}

/**
 * Splits a comma-separated list of `host[:port]`, IPv6 addresses in
 * brackets, as a URL's authority or a `host` option holds it.
 *
 * @param decode Whether the hosts are percent-encoded, as in a URL.
 * @throws {TypeError} A bracket left open or followed by something other than a port.
 * @throws {RangeError} A port that is not an integer from 1 to 65535.
 */
export function parseHosts(list: string, driver: string, decode = false): UrlHost[] {
  const prefix = `Cannot create the ${driver} driver:`;
  return list.split(",").map((item) => {
    let host = item;
    let port: string | undefined;
    if (item.startsWith("[")) {
      const close = item.indexOf("]");
      const after = item.slice(close + 1);
      if (close < 0 || (after !== "" && !after.startsWith(":"))) {
        throw new TypeError(`${prefix} host (${item}) is not an IPv6 address in brackets`);
      }
      host = item.slice(1, close);
      if (after !== "") port = after.slice(1);
    } else if (item.includes(":")) {
      host = item.slice(0, item.indexOf(":"));
      port = item.slice(item.indexOf(":") + 1);
    }
    if (decode) host = decodePart(host, "host", prefix, true);
    return { host, port: port === undefined || port === "" ? undefined : urlPort(port, driver) };
  });
}

/**
 * A port written in a URL or host list. Only digits are shown in the error:
 * anything else may be part of a password holding an unencoded `/`, `?`
 * or `@`.
 */
function urlPort(text: string, driver: string): number {
  if (!/^\d+$/.test(text)) {
    throw new RangeError(
      `Cannot create the ${driver} driver: a port in the host list is not an integer from 1 to 65535 ` +
        '(in a URL, percent-encode "/", "?", "#" and "@" in the user name and password)',
    );
  }
  return checkPort(Number(text), driver);
}

/** Percent-decodes a part of the URL; the error shows the part itself only when `show`. */
function decodePart(text: string, part: string, prefix: string, show: boolean): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new TypeError(
      `${prefix} the URL's ${part}${show ? ` (${text})` : ""} is not valid percent-encoding`,
    );
  }
}
