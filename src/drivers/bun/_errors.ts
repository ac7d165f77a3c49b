import { TLS_NOT_AVAILABLE } from "../_shared/sqlstate.ts";

/** A SQLSTATE: five digits or upper-case letters. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Bun's codes for connection failures, and the codes the postgres.js driver
 * uses for the same failures, so code that checks `error.code` works with
 * either driver.
 */
const CONNECTION_CODES: Readonly<Record<string, string>> = {
  ERR_POSTGRES_CONNECTION_REFUSED: "ECONNREFUSED",
  ERR_POSTGRES_CONNECTION_CLOSED: "CONNECTION_CLOSED",
  ERR_POSTGRES_CONNECTION_TIMEOUT: "CONNECT_TIMEOUT",
  ERR_POSTGRES_TLS_NOT_AVAILABLE: TLS_NOT_AVAILABLE,
};

/** Bun's codes for statements it refused before sending anything. */
const REFUSED_BEFORE_SENDING = new Set([
  "ERR_INVALID_ARG_TYPE",
  "ERR_INVALID_ARG_VALUE",
  "ERR_POSTGRES_TOO_MANY_PARAMETERS",
  "ERR_POSTGRES_INVALID_QUERY_BINDING",
]);

/**
 * Gives a `Bun.SQL` error the code the postgres.js driver would give it:
 * the SQLSTATE for an error the server sent (Bun puts it in `errno` and its
 * own code, such as `ERR_POSTGRES_SERVER_ERROR`, in `code`),
 * `ECONNREFUSED`, `CONNECTION_CLOSED` or `CONNECT_TIMEOUT` for a failed
 * socket, and `TLS_NOT_AVAILABLE` for a server without the TLS required. Bun's own code moves to `bunCode`. Changes the error in place, once.
 */
export function normalizeError<E>(error: E): E {
  const fields = error as { code?: unknown; errno?: unknown; bunCode?: unknown } | null;
  if (fields === null || typeof fields !== "object" || fields.bunCode !== undefined) return error;
  const code = fields.code;
  if (typeof code !== "string" || !code.startsWith("ERR_POSTGRES_")) return error;
  const sqlstate = typeof fields.errno === "string" && SQLSTATE.test(fields.errno)
    ? fields.errno
    : undefined;
  const normalized = sqlstate ?? CONNECTION_CODES[code];
  if (normalized === undefined) return error;
  try {
    Object.defineProperty(error, "bunCode", { value: code, enumerable: true, configurable: true });
    Object.defineProperty(error, "code", {
      value: normalized,
      enumerable: true,
      configurable: true,
    });
  } catch {
    // A frozen error keeps Bun's code; nothing else depends on the change.
  }
  return error;
}

/**
 * Whether a statement's error (normalized) means the socket is broken:
 * anything but an error the server sent (short of FATAL or PANIC, which end
 * the session) or a statement Bun refused before sending it. Unknown errors
 * count as broken.
 */
export function breaksConnection(error: unknown): boolean {
  const fields = error as { code?: unknown; bunCode?: unknown; severity?: unknown } | null;
  if (typeof fields?.bunCode === "string" && SQLSTATE.test(String(fields.code))) {
    return fields.severity === "FATAL" || fields.severity === "PANIC";
  }
  if (typeof fields?.code === "string" && REFUSED_BEFORE_SENDING.has(fields.code)) return false;
  // Thrown while Bun serialized a parameter (a `toJSON` that throws, a
  // symbol): before anything was written to the socket.
  return !(error instanceof TypeError || error instanceof RangeError);
}
