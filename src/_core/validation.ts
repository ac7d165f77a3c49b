import type { PoolCounters } from "../pool_metrics.ts";
import { type CheckHost, checkOut } from "./checks.ts";
import type { PoolEntry } from "./entry.ts";
import { RoundTrips } from "./round_trips.ts";

/** What validation before hand-out needs from the pool. */
export interface ValidationHost extends CheckHost {
  readonly options: { readonly checkTimeout: number; readonly validateAfterIdle: number };
  readonly counters: PoolCounters;
  readonly closing: boolean;
  recycle(entry: PoolEntry, now: number): void;
  retire(entry: PoolEntry): void;
  openForWaiters(): void;
}

/**
 * Pings idle connections before hand-out: those idle past
 * `validateAfterIdle`, and every one not proven since an idle connection
 * proved dead (a NAT or firewall that drops one idle socket silently has
 * usually dropped the others too). A ping still unanswered past the pool's
 * usual round trip is doubted: it no longer counts on to serve a waiter, so
 * a free slot opens a connection in parallel while the ping goes on.
 */
export class Validator {
  /** The pool's pings and connects, timed. */
  readonly roundTrips = new RoundTrips();
  /** Pings past their expected round trip and not yet ended. */
  doubted = 0;
  /** When an idle connection last proved dead. */
  #suspectBefore = -Infinity;
  readonly #host: ValidationHost;

  constructor(host: ValidationHost) {
    this.#host = host;
  }

  /** Whether an idle connection must be pinged before it is lent at `now`. */
  due(entry: PoolEntry, now: number): boolean {
    const validateAfter = this.#host.options.validateAfterIdle;
    return (validateAfter > 0 && now - entry.provenAt > validateAfter) ||
      entry.provenAt < this.#suspectBefore;
  }

  /** An idle connection failed a round trip: the others are pinged before hand-out. */
  provedDead(now: number): void {
    this.#suspectBefore = now;
  }

  /**
   * Pings a connection before it is handed out: it then goes to the oldest
   * waiter, or back to the idle set. One that fails is closed, and a new
   * connection is opened for the waiter it would have served, which so never
   * sees the error.
   */
  validate(entry: PoolEntry): void {
    const host = this.#host;
    const start = host.clock.now();
    let doubted = false;
    const ended = () => {
      if (doubted) this.doubted--;
    };
    checkOut(
      host,
      entry,
      "validating",
      "Validation failed",
      (signal) => entry.driverConnection.ping(signal),
      (end) => {
        ended();
        this.roundTrips.sample(end - start);
        host.recycle(entry, end);
      },
      (error) => {
        ended();
        if (!host.closing) {
          host.counters.validationsFailed++;
          host.background.report(error, "validation");
          this.provedDead(host.clock.now());
        }
        host.retire(entry);
      },
      {
        after: this.roundTrips.doubtAfter(host.options.checkTimeout || Infinity),
        then: () => {
          doubted = true;
          this.doubted++;
          host.openForWaiters();
        },
      },
    );
  }
}
