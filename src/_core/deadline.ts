import type { Clock } from "../clock.ts";

/**
 * Runs one of the pool's own operations (connect, ping, reset) under a signal
 * that aborts after `ms` (0: never), or when the pool aborts every controller
 * in `controllers` on close.
 *
 * Settles as soon as the signal aborts, even for a driver that ignores it;
 * a value the operation still delivers after that goes to `onLate`, so a
 * connection opened too late is closed rather than lost.
 */
export function withDeadline<T>(
  clock: Clock,
  ms: number,
  timeoutReason: () => unknown,
  controllers: Set<AbortController>,
  operation: (signal: AbortSignal) => Promise<T>,
  onLate?: (value: T) => void,
): Promise<T> {
  const controller = new AbortController();
  const signal = controller.signal;
  controllers.add(controller);
  const timer = ms > 0 ? clock.setTimeout(() => controller.abort(timeoutReason()), ms) : undefined;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = () => {
      settled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      controllers.delete(controller);
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (settled) return;
      settle();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort);
    let attempt: Promise<T>;
    try {
      attempt = operation(signal);
    } catch (error) {
      attempt = Promise.reject(error);
    }
    attempt.then(
      (value) => {
        if (!settled) {
          settle();
          resolve(value);
        } else onLate?.(value);
      },
      (error) => {
        if (settled) return;
        settle();
        reject(error);
      },
    );
  });
}

/**
 * Runs `operation` (a caller's query, a health probe) under a signal that
 * aborts when `signal` does (with its reason) or after `ms` (with
 * `timeoutReason()`). The timer and listener are gone once the operation
 * settles.
 */
export function withTimeout<T>(
  clock: Clock,
  ms: number,
  signal: AbortSignal | undefined,
  timeoutReason: () => unknown,
  operation: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = clock.setTimeout(() => controller.abort(timeoutReason()), ms);
  const onAbort = () => controller.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort);
  let attempt: Promise<T>;
  try {
    attempt = operation(controller.signal);
  } catch (error) {
    attempt = Promise.reject(error);
  }
  return attempt.finally(() => {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  });
}
