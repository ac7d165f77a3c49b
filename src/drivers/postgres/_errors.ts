import postgres from "postgres";

/** postgres.js's codes for statements it refused before sending them. */
const REFUSED_BEFORE_SENDING = new Set([
  "UNDEFINED_VALUE",
  "MAX_PARAMETERS_EXCEEDED",
]);

/**
 * Whether a statement's error means the socket is broken: anything but an
 * error the server sent (short of FATAL or PANIC, which end the session) or
 * a statement postgres.js refused to send. Unknown errors count as broken.
 */
export function breaksConnection(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) {
    return error.severity === "FATAL" || error.severity === "PANIC";
  }
  return !REFUSED_BEFORE_SENDING.has(
    (error as { code?: string } | null)?.code ?? "",
  );
}
