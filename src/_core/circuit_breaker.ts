import { CircuitOpenError } from "../errors.ts";
import type { PoolCounters } from "../pool_metrics.ts";

/** The breaker's states, as `PoolMetrics.circuitState` names them. */
export type CircuitState = "closed" | "open" | "halfOpen";

/**
 * The circuit breaker's state machine; the core drives it and acts on its
 * changes. `threshold` connects in a row that fail while no connection is
 * open open it: callers are then refused at once instead of waiting out
 * their timeout against a server that is not there. When the connector's
 * backoff ends, one probe connect half-opens it; the probe's success closes
 * it, its failure opens it again. A connect that succeeds resets the count.
 * A failure while a connection is open is not counted: the server answered
 * that one, so it is not gone.
 */
export class CircuitBreaker {
  state: CircuitState = "closed";
  /** The last connect failure: the cause of every refusal. */
  lastError: unknown = undefined;
  readonly #threshold: number;
  readonly #counters: PoolCounters;
  /** Failed connects in a row with no connection open. */
  #failures = 0;

  /** `threshold` 0 turns the breaker off: it then stays closed. */
  constructor(threshold: number, counters: PoolCounters) {
    this.#threshold = threshold;
    this.#counters = counters;
  }

  /** Whether callers are refused: the breaker is open or half-open. */
  get refusing(): boolean {
    return this.state !== "closed";
  }

  /** A connect failed, with `noneOpen` when no connection was open; returns whether the state changed. */
  failed(error: unknown, noneOpen: boolean): boolean {
    if (this.#threshold === 0) return false;
    this.lastError = error;
    if (this.state === "halfOpen") return this.#move("open");
    if (this.state === "open" || !noneOpen) return false;
    return ++this.#failures >= this.#threshold && this.#move("open");
  }

  /** A connect succeeded; returns whether the state changed. */
  succeeded(): boolean {
    this.#failures = 0;
    return this.state !== "closed" && this.#move("closed");
  }

  /** The backoff ended while open: one probe may connect. Returns whether the state changed. */
  probe(): boolean {
    return this.state === "open" && this.#move("halfOpen");
  }

  /** The error for a refused caller, counted as a rejection. */
  refuse(): CircuitOpenError {
    this.#counters.circuitRejections++;
    return this.error();
  }

  /** The error that names the current state, with the last connect failure as its cause. */
  error(): CircuitOpenError {
    const cause = this.lastError;
    return new CircuitOpenError(this.state, cause === undefined ? undefined : { cause });
  }

  #move(to: CircuitState): true {
    if (to === "open" && this.state === "closed") this.#counters.circuitOpens++;
    if (to === "closed") this.lastError = undefined;
    this.state = to;
    return true;
  }
}
