import type { Clock } from "../clock.ts";
import type { ConnectionLeakError } from "../errors.ts";
import type { PoolEntry } from "./entry.ts";

/** What the finalizer needs of a loan whose handle was collected: never the handle itself. */
interface Loan {
  entry: PoolEntry;
  /** The entry's loan count when lent, so only that loan is reclaimed. */
  loan: number;
  origin: ConnectionLeakError;
}

/**
 * Watches loans for `leakDetectionThreshold`: one timer per loan, started
 * when the connection is handed out and cleared when it comes back; and a
 * `FinalizationRegistry` entry, so a handle collected without `release()`
 * gives its connection back. The pool creates one only when the option is
 * on: registering costs about 250 ns per loan on Deno, 100 ns on Bun, more
 * than the rest of a hand-off.
 */
export class LeakDetector {
  readonly #clock: Clock;
  readonly #onLeak: (entry: PoolEntry, origin: ConnectionLeakError) => void;
  readonly #abandoned: FinalizationRegistry<Loan>;

  constructor(
    clock: Clock,
    /** Milliseconds a loan may last before it is reported; more than 0. */
    readonly threshold: number,
    onLeak: (entry: PoolEntry, origin: ConnectionLeakError) => void,
    onAbandoned: (entry: PoolEntry, origin: ConnectionLeakError) => void,
  ) {
    this.#clock = clock;
    this.#onLeak = onLeak;
    this.#abandoned = new FinalizationRegistry(({ entry, loan, origin }) => {
      if (entry.state === "inUse" && entry.loans === loan) onAbandoned(entry, origin);
    });
  }

  /**
   * Starts watching a loan: `origin` was created in its `getConnection()`
   * call, and `handle` is what the caller holds.
   */
  watch(entry: PoolEntry, origin: ConnectionLeakError, handle: object): void {
    entry.leakTimer = this.#clock.setTimeout(() => {
      entry.leakTimer = undefined;
      this.#onLeak(entry, origin);
    }, this.threshold);
    this.#abandoned.register(handle, { entry, loan: ++entry.loans, origin }, entry);
  }

  /** Stops watching a loan that ended. */
  unwatch(entry: PoolEntry): void {
    if (entry.leakTimer !== undefined) this.#clock.clearTimeout(entry.leakTimer);
    entry.leakTimer = undefined;
    this.#abandoned.unregister(entry);
  }
}
