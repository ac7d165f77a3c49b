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
 * The codes of a server certificate that fails the checks, as `node:tls`
 * gives them under Node, Deno and Bun: an unknown CA, a self-signed or
 * expired certificate, a host name it was not issued for.
 */
const CERTIFICATE_REFUSED =
  /^(?:ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|INVALID_CA|HOSTNAME_MISMATCH)/;

/** The code of the error every driver gives when TLS is required and the server has none. */
export const TLS_NOT_AVAILABLE = "TLS_NOT_AVAILABLE";

/**
 * The error for a server that answered the request for TLS with "no" while
 * `sslmode` requires TLS; `cause` is the client's own.
 */
export function tlsNotAvailable(cause: unknown): Error {
  return Object.assign(
    new Error("The server does not support SSL connections, which the sslmode requires", {
      cause,
    }),
    { code: TLS_NOT_AVAILABLE },
  );
}

/**
 * Whether a failed connect may succeed if tried again. Not for SQLSTATE
 * class 28 (bad password or role), 3D000 (no such database), 42501 (no
 * CONNECT privilege), PgBouncer's equivalents, a server certificate that
 * fails the checks, or a server without the TLS the `sslmode` requires:
 * those wait for someone to change the configuration. Everything else, from
 * a refused socket to 53300 (too many clients) and 57P03 (starting up), may
 * pass by itself.
 */
export function canRetryConnect(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== "string") return true;
  if (code === TLS_NOT_AVAILABLE || CERTIFICATE_REFUSED.test(code)) return false;
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

/**
 * Whether an error rolled back its transaction for a conflict with another
 * that running it again may not meet: 40001 (serialization failure) or
 * 40P01 (deadlock detected).
 */
export function canRetryTransaction(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "40001" || code === "40P01";
}

/** An error with postgres.js's code for a closed connection. */
export function connectionError(message: string, cause?: unknown): Error {
  return Object.assign(
    new Error(message, cause === undefined ? undefined : { cause }),
    { code: "CONNECTION_CLOSED" },
  );
}
