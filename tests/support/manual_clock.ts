/**
 * A clock whose time moves only when a test says so.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Clock, TimerHandle } from "../../src/clock.ts";

interface Timer {
  /** When the timer fires next, in milliseconds on this clock. */
  at: number;
  /** Breaks ties between timers due at the same time: lower fires first. */
  seq: number;
  fn: () => void;
  /** The period of an interval; undefined for a timeout. */
  every?: number;
}

/**
 * Lets every pending promise reaction run: resolves after a macrotask, so
 * every microtask queued before it, and every microtask those queue, has run.
 */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A {@linkcode Clock} for tests. Time starts at `start` (0 by default) and
 * moves only through {@linkcode ManualClock.advance} or
 * {@linkcode ManualClock.advanceAsync}, which fire due timers in time order
 * (ties in the order they were scheduled).
 *
 * A timer callback that throws stops `advance` and the error reaches the
 * test: the pool must never throw into a timer.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #nextHandle = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.#now = start;
  }

  /**
   * The pool's random source (for lifetime jitter): 0 unless a test sets
   * another function, so lifetimes are exact by default.
   */
  random: () => number = () => 0;

  /** The number of timers scheduled and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, undefined);
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // Like the runtimes, clamp the period so a 0 ms interval cannot spin forever.
    return this.#add(fn, ms, Math.max(1, delay(ms)));
  }

  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way,
   * including timers that callbacks schedule within the span. Promise
   * reactions do not run between firings; use `advanceAsync` for that.
   */
  advance(ms: number): void {
    const end = this.#end(ms);
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#fire(timer);
    }
    this.#now = end;
  }

  /**
   * Like `advance`, but lets pending promise reactions settle (see
   * {@linkcode flush}) before each firing and once at the end, so code that
   * awaits between timers behaves as with real time.
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.#end(ms);
    await flush();
    for (let timer = this.#due(end); timer; timer = this.#due(end)) {
      this.#fire(timer);
      await flush();
    }
    this.#now = end;
    await flush();
  }

  #add(fn: () => void, ms: number, every: number | undefined): number {
    const handle = this.#nextHandle++;
    const at = this.#now + (every ?? delay(ms));
    this.#timers.set(handle, { at, seq: this.#seq++, fn, every });
    return handle;
  }

  #end(ms: number): number {
    if (!(ms >= 0)) {
      throw new RangeError(
        `Cannot advance the clock: ms must be >= 0, got ${ms}`,
      );
    }
    return this.#now + ms;
  }

  /** The handle and timer that fires next at or before `end`, if any. */
  #due(end: number): [number, Timer] | undefined {
    let next: [number, Timer] | undefined;
    for (const entry of this.#timers) {
      const timer = entry[1];
      if (timer.at > end) continue;
      if (
        !next || timer.at < next[1].at ||
        (timer.at === next[1].at && timer.seq < next[1].seq)
      ) next = entry;
    }
    return next;
  }

  #fire([handle, timer]: [number, Timer]): void {
    this.#now = timer.at;
    if (timer.every === undefined) {
      this.#timers.delete(handle);
    } else {
      timer.at += timer.every;
      timer.seq = this.#seq++;
    }
    timer.fn();
  }
}

/** A timer delay as the runtimes read it: missing, negative or NaN is 0. */
function delay(ms: number): number {
  return ms > 0 ? ms : 0;
}
