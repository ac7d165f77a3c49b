/**
 * Errors of statements whose connection closed while they were on the wire:
 * the server may or may not have run them. Kept apart from `retry.ts`, which
 * reads them, as the lent connection that records them must not depend on
 * the core.
 */
const lostInFlight = new WeakSet<object>();

/** Records that `error` ended a statement whose connection closed under it. */
export function markLost(error: unknown): void {
  if (typeof error === "object" && error !== null) lostInFlight.add(error);
}

/** Whether `error` ended a statement whose connection closed under it. */
export function wasLost(error: unknown): boolean {
  return typeof error === "object" && error !== null && lostInFlight.has(error);
}
