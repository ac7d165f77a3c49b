/** A connect failure's message, for the message of the error it caused. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
