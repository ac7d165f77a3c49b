/**
 * What both drivers do alike with their options: merge a URL's (or an
 * options object's) with the driver options, refuse the ones the pool owns,
 * check `pooler` and the port, and read `ssl` as libpq's `sslmode`, so that
 * both refuse the same things in the same words.
 *
 * @module
 */

/**
 * `base` (parsed from the URL, or the options object) with `extra` over it,
 * the `connection` parameters of both merged; throws a `TypeError` for any
 * of `owned`, whose lifetime-related settings the pool owns.
 *
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function mergeOptions(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
  owned: readonly string[],
  driver: string,
): Record<string, unknown> {
  const given: Record<string, unknown> = {
    ...base,
    ...extra,
    connection: { ...base.connection as object, ...extra.connection as object },
  };
  for (const key of owned) {
    if (given[key] !== undefined) {
      throw new TypeError(
        `Cannot create the ${driver} driver: the pool owns each connection's lifetime, so "${key}" is not supported`,
      );
    }
  }
  return given;
}

/** A pooler the drivers know how to work behind. */
export type Pooler = "transaction";

const POOLERS: readonly unknown[] = ["transaction"] satisfies Pooler[];

/**
 * Returns a driver's `pooler` option once checked: `"transaction"`, or
 * `undefined` when left out. Anything else is a `TypeError` naming the
 * value, with the reason for the two values a reader would try next.
 *
 * @param pooler The option as given.
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
function checkPooler(pooler: unknown, driver: string): Pooler | undefined {
  if (pooler === undefined || POOLERS.includes(pooler)) return pooler as Pooler | undefined;
  const why = pooler === "statement"
    ? " (statement pooling cannot run the pool's transactions)"
    : pooler === "session"
    ? " (a session pooler needs no option)"
    : "";
  const shown = typeof pooler === "string" ? `"${pooler}"` : String(pooler);
  throw new TypeError(
    `Cannot create the ${driver} driver: pooler must be "transaction" or left out, got ${shown}${why}`,
  );
}

/**
 * Returns a port once checked: an integer from 1 to 65535, `5432` when left
 * out; anything else is a `RangeError` naming the value.
 *
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function checkPort(port: unknown, driver: string): number {
  const number = Number(port ?? 5432);
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    throw new RangeError(
      `Cannot create the ${driver} driver: port (${
        String(port)
      }) is not an integer from 1 to 65535`,
    );
  }
  return number;
}

/** libpq's `sslmode` values, weakest first. */
export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";

const SSL_MODES: readonly unknown[] = [
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
] satisfies SslMode[];

/**
 * What an `ssl` option or an `sslmode` URL parameter asks for, as libpq
 * means it: one of its modes by name; `false` (or `"false"`, or nothing)
 * for `"disable"`; `true` (or `"true"`) for `"verify-full"`. An object, the
 * client's own TLS options, is returned as it is. Anything else is a
 * `RangeError` naming the value.
 *
 * @param name The option or parameter, for the error: `"ssl"`, `"sslmode"`.
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function sslMode(
  value: unknown,
  name: string,
  driver: string,
): SslMode | Record<string, unknown> {
  if (value === undefined || value === false || value === "false") return "disable";
  if (value === true || value === "true") return "verify-full";
  if (SSL_MODES.includes(value)) return value as SslMode;
  if (typeof value === "object" && value !== null) return value as Record<string, unknown>;
  const shown = typeof value === "string" ? `"${value}"` : String(value);
  throw new RangeError(
    `Cannot create the ${driver} driver: ${name} (${shown}) is not one of ${
      SSL_MODES.map((mode) => `"${mode}"`).join(", ")
    }, true, false or TLS options`,
  );
}

/** The options both drivers resolve alike: the login, and `pooler` with what it implies. */
export interface Login {
  login: { username: string; password: unknown; database: string; prepare: unknown };
  pooler: Pooler | undefined;
  /** The other options, without postgres.js's aliases `user`, `pass` and `db`. */
  rest: Record<string, unknown>;
}

/**
 * Resolves the login from merged options, postgres.js's aliases `user`,
 * `pass` and `db` included: a username, required; the database, by default
 * the username; and `pooler`, checked, with named prepared statements off
 * behind one unless `prepare` says otherwise.
 *
 * @throws {TypeError} No username, or an unknown `pooler`.
 */
export function resolveLogin(given: Record<string, unknown>, driver: string): Login {
  const { user, pass, db, pooler: givenPooler, ...rest } = given;
  const pooler = checkPooler(givenPooler, driver);
  const username = given.username ?? user;
  if (typeof username !== "string" || username === "") {
    throw new TypeError(`Cannot create the ${driver} driver: no username in the URL or options`);
  }
  const login = {
    username,
    // A function, as both clients read PGPASSWORD for an empty password.
    password: (given.password ?? pass) || (() => ""),
    database: String(given.database ?? db ?? username),
    // Behind a transaction pooler, the next statement may reach a backend
    // that never saw the Parse of a named statement.
    prepare: given.prepare ?? pooler === undefined,
  };
  return { login, pooler, rest };
}
