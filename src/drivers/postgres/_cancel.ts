import type postgres from "postgres";

/**
 * Asks the server to cancel `query` if it is still running, and resolves when
 * the request has been delivered or has failed; never rejects.
 *
 * postgres.js's `query.cancel()` drops the promise of the cancel connection
 * (an unhandled rejection when that connection fails), so this calls the
 * function it wraps, `query.canceller`, and handles the promise. It waits one
 * macrotask first: postgres.js hands a query to the socket a microtask after
 * it is started, and cancelling before that marks the query cancelled without
 * ever settling the connection's queue state, which wedges it.
 */
export function cancelStatement(query: postgres.PendingQuery<postgres.Row[]>): Promise<void> {
  const internal = query as unknown as {
    active?: boolean;
    canceller?: ((query: unknown) => Promise<void>) | null;
  };
  return new Promise((resolve) => {
    setTimeout(() => {
      try {
        const canceller = internal.canceller;
        if (!internal.active) return resolve();
        if (typeof canceller !== "function") {
          query.cancel();
          return resolve();
        }
        internal.canceller = null;
        canceller(query).then(() => resolve(), () => resolve());
      } catch {
        resolve();
      }
    }, 0);
  });
}
