import type { Clock, TimerHandle } from "../clock.ts";
import { PoolNotReadyError } from "../errors.ts";

/** One `ready()` call waiting for its connections. */
interface ReadyCall {
  resolve(): void;
  reject(reason: unknown): void;
  timer: TimerHandle | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The last connect failure since the call began. */
  lastError: unknown;
}

/**
 * Connections the pool opens with nobody waiting: enough to keep
 * `minIdleConns` idle, and, while `ready()` waits, enough to reach
 * `max(1, minIdleConns)` open. Keeps the `ready()` calls and settles them
 * as connects succeed or fail. The core opens the connections: it asks
 * {@linkcode Warming.wanted} how many beyond its waiters' needs.
 */
export class Warming {
  readonly minIdleConns: number;
  /** What ready() waits for. */
  readonly target: number;
  readonly #clock: Clock;
  /** Established connections now. */
  readonly #opened: () => number;
  readonly #calls = new Set<ReadyCall>();

  constructor(minIdleConns: number, clock: Clock, opened: () => number) {
    this.minIdleConns = minIdleConns;
    this.target = Math.max(1, minIdleConns);
    this.#clock = clock;
    this.#opened = opened;
  }

  /**
   * Connects wanted beyond the waiters': to bring `idle` (idle connections and
   * those coming back to the idle set) up to `minIdleConns`, and `open` up to
   * the target while a ready() call waits.
   */
  wanted(idle: number, open: number): number {
    const forReady = this.#calls.size > 0 ? this.target - open : 0;
    return Math.max(this.minIdleConns - idle, forReady, 0);
  }

  /**
   * Resolves once the target is open, or rejects: with `PoolNotReadyError`
   * at `timeout` (0: none) or when {@linkcode Warming.fail} says so, with the
   * signal's reason when it aborts. The caller then starts the connects.
   */
  ready(timeout: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#opened() >= this.target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const call: ReadyCall = {
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        lastError: undefined,
      };
      this.#calls.add(call);
      if (timeout > 0) {
        call.timer = this.#clock.setTimeout(
          () => this.#settle(call, this.#notReady(call)),
          timeout,
        );
      }
      if (signal !== undefined) {
        call.onAbort = () => this.#settle(call, signal.reason);
        signal.addEventListener("abort", call.onAbort);
      }
    });
  }

  /** A connection opened: resolves the calls whose target is reached. */
  connected(): void {
    if (this.#calls.size === 0 || this.#opened() < this.target) return;
    for (const call of this.#calls) this.#settle(call);
  }

  /**
   * A connect failed. With `final` (a failure the driver deems permanent, or
   * the circuit breaker opened) every call fails now, with `error` as its
   * cause; otherwise they keep waiting, and keep it for their timeout.
   */
  failed(error: unknown, final: boolean): void {
    for (const call of this.#calls) {
      call.lastError = error;
      if (final) this.#settle(call, this.#notReady(call));
    }
  }

  /** Fails every call with `reason`: the pool is closing. */
  rejectAll(reason: unknown): void {
    for (const call of this.#calls) this.#settle(call, reason);
  }

  #notReady(call: ReadyCall): PoolNotReadyError {
    const cause = call.lastError;
    return new PoolNotReadyError(
      this.target,
      this.#opened(),
      cause === undefined ? undefined : { cause },
    );
  }

  /** Ends `call`: resolved without `reason`, rejected with it. */
  #settle(call: ReadyCall, ...reason: [] | [unknown]): void {
    if (!this.#calls.delete(call)) return;
    if (call.timer !== undefined) this.#clock.clearTimeout(call.timer);
    if (call.onAbort !== undefined) call.signal!.removeEventListener("abort", call.onAbort);
    if (reason.length === 0) call.resolve();
    else call.reject(reason[0]);
  }
}
