import type { Clock, TimerHandle } from "../clock.ts";
import { AcquireTimeoutError } from "../errors.ts";
import type { PoolCounters } from "../pool_metrics.ts";
import { type Waiter, WaitQueue } from "./wait_queue.ts";

/**
 * Callers waiting for a connection, in arrival order, with their acquire
 * timeouts and abort signals. One timer serves every waiter's timeout,
 * armed for the earliest deadline: a timer per waiter would cost more than
 * the rest of a hand-off.
 */
export class WaitingLine {
  readonly #queue = new WaitQueue();
  readonly #clock: Clock;
  readonly #counters: PoolCounters;
  /** Why no connection came for a waiter that started waiting at `since`, if known. */
  readonly #causeSince: (since: number) => unknown;
  #deadlineTimer: TimerHandle | undefined;
  #deadlineAt = Infinity;

  constructor(clock: Clock, counters: PoolCounters, causeSince: (since: number) => unknown) {
    this.#clock = clock;
    this.#counters = counters;
    this.#causeSince = causeSince;
  }

  get size(): number {
    return this.#queue.size;
  }

  /** The oldest waiter, still in the line. */
  get first(): Waiter | undefined {
    return this.#queue.first;
  }

  /** Queues `waiter`; it leaves at its deadline or when `signal` aborts. */
  add(waiter: Waiter, signal: AbortSignal | undefined): void {
    this.#queue.push(waiter);
    this.#counters.waitCount++;
    if (waiter.deadline < this.#deadlineAt) this.#armDeadline(waiter.deadline, waiter.since);
    if (signal !== undefined) {
      waiter.signal = signal;
      waiter.onAbort = () => this.#giveUp(waiter, signal.reason);
      signal.addEventListener("abort", waiter.onAbort);
    }
  }

  /** Takes the oldest waiter out, its wait ended at `now`; the caller settles it. */
  next(now: number): Waiter | undefined {
    const waiter = this.#queue.shift();
    if (waiter !== undefined) this.#endWait(waiter, now);
    return waiter;
  }

  /** Rejects every waiter with `reason`. */
  rejectAll(reason: unknown): void {
    const now = this.#clock.now();
    for (let waiter; (waiter = this.next(now)) !== undefined;) waiter.reject(reason);
  }

  #armDeadline(at: number, now: number): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.#clock.setTimeout(() => this.#expire(), at - now);
  }

  /** Fails every waiter whose deadline has come, and arms the timer for the next. */
  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.#clock.now();
    let next = Infinity;
    for (let waiter = this.#queue.first; waiter !== undefined;) {
      const following = waiter.next;
      if (waiter.deadline <= now) {
        // During an outage the caller learns why no connection came.
        const cause = this.#causeSince(waiter.since);
        this.#giveUp(
          waiter,
          new AcquireTimeoutError(waiter.timeout, cause === undefined ? undefined : { cause }),
        );
      } else if (waiter.deadline < next) next = waiter.deadline;
      waiter = following;
    }
    if (next < Infinity) this.#armDeadline(next, now);
  }

  #giveUp(waiter: Waiter, reason: unknown): void {
    if (!waiter.queued) return;
    this.#queue.remove(waiter);
    this.#endWait(waiter, this.#clock.now());
    if (reason instanceof AcquireTimeoutError) this.#counters.acquireTimeouts++;
    waiter.reject(reason);
  }

  /** Ends the wait of a waiter taken out of the queue: its abort listener, and the timer once none waits. */
  #endWait(waiter: Waiter, now: number): void {
    if (this.#queue.size === 0 && this.#deadlineTimer !== undefined) {
      this.#clock.clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = undefined;
      this.#deadlineAt = Infinity;
    }
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener("abort", waiter.onAbort);
    this.#counters.waitDuration += now - waiter.since;
  }
}
