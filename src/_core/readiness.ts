import { PoolClosedError, PoolNotReadyError } from "../errors.ts";
import type { PoolCore } from "./core.ts";
import { checkSignal, validateDuration } from "./options.ts";

/**
 * Resolves once `max(1, minIdleConns)` connections are open, opening them
 * now; see `ConnectionPool.ready`. Checks its options. An open breaker fails
 * it at once: its probe is the only connect allowed.
 */
export function whenReady(
  core: PoolCore,
  options: { signal?: AbortSignal; timeout?: number } | undefined,
): Promise<void> {
  if (core.closing) {
    return Promise.reject(new PoolClosedError("Cannot get ready: the pool is closed"));
  }
  const signal = options?.signal;
  let timeout: number;
  try {
    checkSignal("Cannot get ready", signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    timeout = validateDuration(
      "Cannot get ready: timeout",
      options?.timeout,
      core.options.acquireTimeout,
    );
  } catch (error) {
    return Promise.reject(error);
  }
  const { breaker, warming } = core;
  if (breaker.refusing) {
    const cause = breaker.lastError;
    return Promise.reject(new PoolNotReadyError(warming.target, core.ledger.all.size, { cause }));
  }
  const ready = warming.ready(timeout, signal);
  core.openForWaiters();
  return ready;
}
