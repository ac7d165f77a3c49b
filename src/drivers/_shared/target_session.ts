/**
 * libpq's `target_session_attrs`, for every driver: which kind of server a
 * connection must reach, the one round trip that tells, and the walk over a
 * URL's hosts until one fits. The drivers check it themselves rather than
 * trust their client's own check: postgres.js reads only
 * `default_transaction_read_only` for `read-write`, which is `off` on a hot
 * standby, so after a failover it settles on the demoted server.
 *
 * @module
 */

import type { UrlHost } from "./connection_url.ts";

/**
 * libpq's values of `target_session_attrs`: which kind of server a
 * connection must reach when the URL names several hosts.
 *
 * @example
 * ```ts
 * import { postgresDriver, type TargetSessionAttrs } from "@x/pool/postgres";
 *
 * const attrs: TargetSessionAttrs = "read-write";
 * const driver = postgresDriver("postgres://app@db1:5432,db2:5432/app", {
 *   target_session_attrs: attrs,
 * });
 * ```
 */
export type TargetSessionAttrs =
  | "any"
  | "read-write"
  | "read-only"
  | "primary"
  | "standby"
  | "prefer-standby";

const VALUES: readonly unknown[] = [
  "any",
  "read-write",
  "read-only",
  "primary",
  "standby",
  "prefer-standby",
] satisfies TargetSessionAttrs[];

/**
 * The check after connecting: one statement, one row. `transaction_read_only`
 * is on for a hot standby and for a server or role whose default is
 * read-only, as libpq's `SHOW transaction_read_only` reads it.
 */
export const SESSION_STATE_QUERY = "select pg_catalog.pg_is_in_recovery()::text as in_recovery, " +
  "pg_catalog.current_setting('transaction_read_only') as read_only";

/** What {@linkcode SESSION_STATE_QUERY} returns, as text. */
export interface SessionState {
  in_recovery: string;
  read_only: string;
}

/**
 * Checks a `target_session_attrs` option or URL parameter: one of libpq's
 * values, `"any"` when left out; anything else is a `RangeError` naming it.
 *
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function targetSessionAttrs(value: unknown, driver: string): TargetSessionAttrs {
  if (value === undefined) return "any";
  if (VALUES.includes(value)) return value as TargetSessionAttrs;
  const shown = typeof value === "string" ? `"${value}"` : String(value);
  throw new RangeError(
    `Cannot create the ${driver} driver: target_session_attrs (${shown}) is not one of ${
      VALUES.map((each) => `"${each}"`).join(", ")
    }`,
  );
}

/**
 * Whether a session opened for `attrs` is meant for writes: a 25006
 * (read-only) error on it then means its server was demoted, and the
 * connection must go so the next connect finds the new primary.
 */
export function wantsWrites(attrs: TargetSessionAttrs): boolean {
  return attrs === "read-write" || attrs === "primary";
}

/** Whether a server in `state` is what `attrs` asks for (`"prefer-standby"` as `"standby"`). */
function fits(attrs: TargetSessionAttrs, state: SessionState): boolean {
  const readOnly = state.read_only === "on";
  const standby = state.in_recovery === "true";
  switch (attrs) {
    case "read-write":
      return !readOnly;
    case "read-only":
      return readOnly;
    case "primary":
      return !standby;
    case "standby":
    case "prefer-standby":
      return standby;
    default:
      return true;
  }
}

/** Opens a connection to one host; `check` says whether to make the state round trip. */
export type OpenHost<C, H extends UrlHost = UrlHost> = (
  host: H,
  check: boolean,
  signal: AbortSignal,
) => Promise<{ connection: C; state?: SessionState }>;

/**
 * Connects to the first of `hosts` that fits `attrs`, as libpq does: a host
 * that cannot be reached, or whose server does not fit, is passed over for
 * the next; `"prefer-standby"` looks for a standby first, then takes any.
 * A server that does not fit is closed at once.
 *
 * @throws The last host's error when no host could be reached; else an
 * error naming `target_session_attrs` and the hosts, with no SQLSTATE (so a
 * pool retries: a failover may be under way).
 */
export async function connectToTarget<C extends { close(): Promise<void> }, H extends UrlHost>(
  hosts: readonly H[],
  attrs: TargetSessionAttrs,
  open: OpenHost<C, H>,
  signal: AbortSignal,
): Promise<C> {
  const passes: TargetSessionAttrs[] = attrs === "prefer-standby" ? [attrs, "any"] : [attrs];
  let failure: unknown;
  let unfit = false;
  for (const pass of passes) {
    for (const host of hosts) {
      signal.throwIfAborted();
      let opened: Awaited<ReturnType<OpenHost<C, H>>>;
      try {
        opened = await open(host, pass !== "any", signal);
      } catch (error) {
        if (signal.aborted) throw error;
        failure = error;
        continue;
      }
      if (pass === "any" || (opened.state !== undefined && fits(pass, opened.state))) {
        return opened.connection;
      }
      unfit = true;
      await opened.connection.close();
    }
  }
  if (!unfit) throw failure;
  const list = hosts.map((each) =>
    each.port === undefined ? each.host : `${each.host}:${each.port}`
  );
  throw new Error(
    `Cannot connect: no server among ${list.join(", ")} is ${describe(attrs)} ` +
      `(target_session_attrs "${attrs}")`,
    failure === undefined ? undefined : { cause: failure },
  );
}

function describe(attrs: TargetSessionAttrs): string {
  switch (attrs) {
    case "read-write":
      return "writable";
    case "read-only":
      return "read-only";
    case "primary":
      return "a primary";
    default:
      return "a standby";
  }
}
