import { PoolNotReadyError } from "../errors.ts";
import type { PoolCore } from "./core.ts";

/**
 * Resolves once `max(1, minIdleConns)` connections are open, opening them
 * now; see `ConnectionPool.ready`. Arguments are checked. An open breaker
 * fails it at once: its probe is the only connect allowed.
 */
export function whenReady(
  core: PoolCore,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { breaker, warming } = core;
  if (breaker.refusing) {
    const cause = breaker.lastError;
    return Promise.reject(new PoolNotReadyError(warming.target, core.ledger.all.size, { cause }));
  }
  const ready = warming.ready(timeout, signal);
  core.openForWaiters();
  return ready;
}
