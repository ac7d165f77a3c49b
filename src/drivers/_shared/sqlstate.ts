/**
 * What PostgreSQL's errors mean to the pool, for every driver: which failed
 * connects may pass by themselves, which errors speak of the whole server,
 * and the error a driver gives for a connection that closed.
 *
 * @module
 */

/**
 * PgBouncer's refusals that wait for a configuration change. It sends them
 * all as 08P01, as it does passing failures such as a full `max_client_conn`
 * or a server it cannot reach, so only the message tells them apart.
 */
const PGBOUNCER_PERMANENT =
  /^(?:password authentication failed|SASL authentication failed|unsupported startup parameter|no such database|no such user)/;

/**
 * Whether a failed connect may succeed if tried again. Not for SQLSTATE
 * class 28 (bad password or role), 3D000 (no such database), 42501 (no
 * CONNECT privilege), or PgBouncer's equivalents: those wait for someone to
 * change the configuration. Everything else, from a refused socket to 53300
 * (too many clients) and 57P03 (starting up), may pass by itself.
 */
export function canRetryConnect(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== "string") return true;
  if (code === "08P01" && typeof message === "string") return !PGBOUNCER_PERMANENT.test(message);
  return !(code.startsWith("28") || code === "3D000" || code === "42501");
}

/**
 * What an error says about the whole server: 57P01 (admin shutdown), 57P02
 * (crash shutdown) and 57P03 (cannot connect now: starting up or shutting
 * down) mean it is going or gone, also as the cause of a closed connection;
 * 25006 means it refused a write for being read-only. 57P01 also ends a
 * single backend terminated by `pg_terminate_backend()`: the pool checks the
 * server before it retires the others.
 */
export function classifyError(error: unknown): "serverGone" | "readOnly" | undefined {
  let code = (error as { code?: unknown } | null)?.code;
  if (code === "CONNECTION_CLOSED") {
    code = ((error as { cause?: unknown }).cause as { code?: unknown } | null)?.code;
  }
  if (code === "57P01" || code === "57P02" || code === "57P03") return "serverGone";
  if (code === "25006") return "readOnly";
  return undefined;
}

/** An error with postgres.js's code for a closed connection. */
export function connectionError(message: string, cause?: unknown): Error {
  return Object.assign(
    new Error(message, cause === undefined ? undefined : { cause }),
    { code: "CONNECTION_CLOSED" },
  );
}
