import pg from "pg";

/**
 * Whether a statement's error means the socket is broken: anything but an
 * error the server sent (short of FATAL or PANIC, which end the session) or
 * a parameter node-postgres could not serialize before sending anything (a
 * `TypeError` or `RangeError`, such as from `JSON.stringify`). Unknown
 * errors count as broken.
 */
export function breaksConnection(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) {
    return error.severity === "FATAL" || error.severity === "PANIC";
  }
  return !(error instanceof TypeError || error instanceof RangeError);
}

/** The error node-postgres gives when the server answers a TLS request with "no". */
export function refusedTls(error: unknown): boolean {
  return error instanceof Error && error.message === "The server does not support SSL connections";
}
