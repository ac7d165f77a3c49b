import type { Clock } from "../clock.ts";
import { PoolError } from "../errors.ts";
import type { BackgroundWork } from "./background.ts";
import type { PoolEntry } from "./entry.ts";
import type { EntryLedger } from "./ledger.ts";

/** What a round trip of the pool's own needs from the pool. */
export interface CheckHost {
  readonly ledger: EntryLedger;
  readonly background: BackgroundWork;
  readonly clock: Clock;
  readonly options: { readonly checkTimeout: number };
}

/** When a round trip becomes doubtful, and what to do then. */
export interface Doubt {
  /** Milliseconds after the start; from `checkTimeout` on, never. */
  after: number;
  then(): void;
}

/**
 * Holds a connection out of use, in state `checking` or `validating`, for
 * one round trip of the pool's own (a ping or a reset), bounded by
 * `checkTimeout` and by close(); then hands it to `onPass` (with the time it
 * ended) or `onFail`, which move it on, unless close() has taken it meanwhile.
 * With `doubt`, calls `doubt.then` if the round trip is still out after
 * `doubt.after`; it goes on until it ends or times out.
 */
export function checkOut(
  host: CheckHost,
  entry: PoolEntry,
  state: "checking" | "validating",
  action: string,
  operation: (signal: AbortSignal) => Promise<void>,
  onPass: (end: number) => void,
  onFail: (error: unknown) => void,
  doubt?: Doubt,
): void {
  const { clock } = host;
  host.ledger.move(entry, state, clock.now());
  const timeout = host.options.checkTimeout;
  const roundTrip = host.background.bounded(
    timeout,
    () => new PoolError("CHECK_TIMEOUT", `${action}: no answer within ${timeout} ms`),
    operation,
  );
  const doubtTimer = doubt !== undefined && (timeout === 0 || doubt.after < timeout)
    ? clock.setTimeout(doubt.then, doubt.after)
    : undefined;
  const ended = () => {
    if (doubtTimer !== undefined) clock.clearTimeout(doubtTimer);
  };
  host.background.track(roundTrip.then(
    () => {
      ended();
      // close() took it past its grace period.
      if (entry.state === "closed") return;
      const end = clock.now();
      entry.provenAt = end;
      onPass(end);
    },
    (error) => {
      ended();
      if (entry.state !== "closed") onFail(error);
    },
  ));
}
