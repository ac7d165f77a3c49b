/**
 * The pool's source of time. Every time stamp and timer in the pool goes
 * through a clock, so tests can drive time by hand.
 *
 * @module
 */

/** An opaque handle to a timer started by a {@linkcode Clock}. */
export type TimerHandle = unknown;

/**
 * Time and timers, in milliseconds.
 *
 * @example A clock that runs 10 times slower than real time
 * ```ts
 * import { systemClock, type Clock } from "@x/pool";
 *
 * const slowClock: Clock = {
 *   now: () => systemClock.now() / 10,
 *   setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms * 10),
 *   clearTimeout: (handle) => systemClock.clearTimeout(handle),
 *   setInterval: (fn, ms) => systemClock.setInterval(fn, ms * 10),
 *   clearInterval: (handle) => systemClock.clearInterval(handle),
 * };
 * ```
 */
export interface Clock {
  /** A monotonic time stamp in milliseconds, like `performance.now()`. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@linkcode Clock.setTimeout}; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Calls `fn` every `ms` milliseconds. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@linkcode Clock.setInterval}; unknown handles are ignored. */
  clearInterval(handle: TimerHandle): void;
  /**
   * A number from 0 (inclusive) to 1 (exclusive), like `Math.random()`:
   * the pool uses it to spread connection lifetimes
   * (`connMaxLifetimeJitter`). Optional; `Math.random()` when absent.
   */
  random?(): number;
}

/**
 * The default clock: `performance.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@x/pool";
 *
 * const start = systemClock.now();
 * const elapsed = systemClock.now() - start;
 * console.log(elapsed >= 0); // true
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as number),
  random: () => Math.random(),
};
