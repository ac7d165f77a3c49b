import type { Clock } from "../clock.ts";
import type { PoolErrorEvent } from "../errors.ts";
import type { DriverConnection } from "../driver.ts";
import { withDeadline } from "./deadline.ts";

/**
 * The pool's own asynchronous work, which no caller awaits: connects, pings,
 * resets and closes. Keeps it so that close() can abort it and wait for it,
 * and sends its failures to the one error sink, the `onError` hook.
 */
export class BackgroundWork {
  readonly #clock: Clock;
  readonly #onError: ((error: unknown, event: PoolErrorEvent) => void) | undefined;
  /** One per bounded operation in flight. */
  readonly #controllers = new Set<AbortController>();
  /** Work not yet settled. These promises never reject. */
  readonly #tasks = new Set<Promise<void>>();

  constructor(
    clock: Clock,
    onError: ((error: unknown, event: PoolErrorEvent) => void) | undefined,
  ) {
    this.#clock = clock;
    this.#onError = onError;
  }

  /**
   * Runs `operation` under a signal that aborts after `ms` (0: never) or on
   * {@linkcode BackgroundWork.abortAll}; see {@linkcode withDeadline}.
   */
  bounded<T>(
    ms: number,
    timeoutReason: () => unknown,
    operation: (signal: AbortSignal) => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T> {
    return withDeadline(this.#clock, ms, timeoutReason, this.#controllers, operation, onLate);
  }

  /** Keeps `task` until it settles. It must handle its own failure. */
  track(task: Promise<void>): void {
    const tracked: Promise<void> = task.then(
      () => void this.#tasks.delete(tracked),
      (error) => {
        this.#tasks.delete(tracked);
        // Unreachable: every tracked task handles its own failure.
        this.report(new Error("Bug: a pool task failed", { cause: error }), "close");
      },
    );
    this.#tasks.add(tracked);
  }

  /** Closes a connection without waiting; a failure goes to the hook as `"close"`. */
  close(connection: DriverConnection): void {
    this.track(connection.close().catch((error) => this.report(error, "close")));
  }

  /** Tells the `onError` hook, if any; an error the hook throws is dropped. */
  report(error: unknown, event: PoolErrorEvent): void {
    try {
      this.#onError?.(error, event);
    } catch {
      // The hook's own failure has nowhere else to go.
    }
  }

  /** Aborts every bounded operation in flight with `reason`. */
  abortAll(reason: unknown): void {
    for (const controller of this.#controllers) controller.abort(reason);
  }

  /** Resolves once nothing is left, including work that settling work started. */
  async settled(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }
}
