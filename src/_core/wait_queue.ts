import type { ConnectionLeakError } from "../errors.ts";

/**
 * One caller waiting for a connection. A node of {@linkcode WaitQueue}'s
 * list, so a waiter that gives up leaves the queue in O(1).
 */
export class Waiter<T> {
  prev: Waiter<T> | undefined = undefined;
  next: Waiter<T> | undefined = undefined;
  /** Whether the waiter is still in its queue. */
  queued = false;
  /** When the acquire timeout runs out, from the pool's clock; Infinity for never. */
  readonly deadline: number;
  /** The caller's signal and the listener registered on it, if any. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Created by `getConnection()` for leak detection, only when it is on. */
  origin: ConnectionLeakError | undefined = undefined;

  constructor(
    readonly resolve: (value: T) => void,
    readonly reject: (reason: unknown) => void,
    /** When the caller started waiting, from the pool's clock. */
    readonly since: number,
    /** The acquire timeout in force for this caller, in milliseconds; 0 for none. */
    readonly timeout: number,
  ) {
    this.deadline = timeout > 0 ? since + timeout : Infinity;
  }
}

/** Waiters in arrival order: a doubly linked list with O(1) push, shift and remove. */
export class WaitQueue<T> {
  #head: Waiter<T> | undefined = undefined;
  #tail: Waiter<T> | undefined = undefined;
  #size = 0;

  /** The oldest waiter, without taking it out; follow `next` for the others. */
  get first(): Waiter<T> | undefined {
    return this.#head;
  }

  /** The number of waiters in the queue. */
  get size(): number {
    return this.#size;
  }

  /** Adds a waiter at the back. */
  push(waiter: Waiter<T>): void {
    waiter.prev = this.#tail;
    waiter.next = undefined;
    if (this.#tail === undefined) this.#head = waiter;
    else this.#tail.next = waiter;
    this.#tail = waiter;
    waiter.queued = true;
    this.#size++;
  }

  /** Takes the oldest waiter out, or returns undefined when empty. */
  shift(): Waiter<T> | undefined {
    const waiter = this.#head;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  /** Takes a waiter out wherever it stands; does nothing if it is not queued. */
  remove(waiter: Waiter<T>): void {
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
