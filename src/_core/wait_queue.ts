import type { PoolEntry } from "./entry.ts";

/**
 * One caller waiting for a connection. A node of {@linkcode WaitQueue}'s
 * list, so a waiter that gives up leaves the queue in O(1).
 */
export class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  /** Whether the waiter is still in its queue. */
  queued = false;
  /** When the acquire timeout runs out, from the pool's clock; Infinity for never. */
  readonly deadline: number;
  /** The caller's signal and the listener registered on it, if any. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    /**
     * Hands `entry` to the caller at `now`, the moment the waiter leaves the
     * queue: lends it, and settles the caller's promise.
     */
    readonly serve: (entry: PoolEntry, now: number) => void,
    readonly reject: (reason: unknown) => void,
    /** When the caller started waiting, from the pool's clock. */
    readonly since: number,
    /** The acquire timeout in force for this caller, in milliseconds; 0 for none. */
    readonly timeout: number,
    /** Whether it waits for a single statement that may share a connection (pipelining). */
    readonly shared = false,
  ) {
    this.deadline = timeout > 0 ? since + timeout : Infinity;
  }
}

/** Waiters in arrival order: a doubly linked list with O(1) push, shift and remove. */
export class WaitQueue {
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  #size = 0;

  /** The oldest waiter, without taking it out; follow `next` for the others. */
  get first(): Waiter | undefined {
    return this.#head;
  }

  /** The number of waiters in the queue. */
  get size(): number {
    return this.#size;
  }

  /** Adds a waiter at the back. */
  push(waiter: Waiter): void {
    waiter.prev = this.#tail;
    waiter.next = undefined;
    if (this.#tail === undefined) this.#head = waiter;
    else this.#tail.next = waiter;
    this.#tail = waiter;
    waiter.queued = true;
    this.#size++;
  }

  /** Takes the oldest waiter out, or returns undefined when empty. */
  shift(): Waiter | undefined {
    const waiter = this.#head;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  /** Takes a waiter out wherever it stands; does nothing if it is not queued. */
  remove(waiter: Waiter): void {
    if (!waiter.queued) return;
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    waiter.queued = false;
    this.#size--;
  }
}
