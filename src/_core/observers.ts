import type { PoolObserver } from "../observer.ts";

/**
 * Checks `observer` and adds it to `observers`; returns what removes it,
 * once.
 *
 * @throws {TypeError} When `observer` is not an object, or a callback it has is not a function.
 */
export function register(observers: PoolObserver[], observer: PoolObserver): () => void {
  if (typeof observer !== "object" || observer === null) {
    throw new TypeError(`Cannot observe the pool: observer must be an object, got ${observer}`);
  }
  for (const event of ["acquired", "released", "connected"] as const) {
    const callback = observer[event];
    if (callback !== undefined && typeof callback !== "function") {
      throw new TypeError(
        `Cannot observe the pool: observer.${event} must be a function, got ${typeof callback}`,
      );
    }
  }
  observers.push(observer);
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    observers.splice(observers.indexOf(observer), 1);
  };
}
