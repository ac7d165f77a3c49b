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

/**
 * Holds a connection out of use, in state `checking` or `validating`, for
 * one round trip of the pool's own (a ping or a reset), bounded by
 * `checkTimeout` and by close(); then hands it to `onPass` (with the time it
 * ended) or `onFail`, which move it on, unless close() has taken it meanwhile.
 */
export function checkOut(
  host: CheckHost,
  entry: PoolEntry,
  state: "checking" | "validating",
  action: string,
  operation: (signal: AbortSignal) => Promise<void>,
  onPass: (end: number) => void,
  onFail: (error: unknown) => void,
): void {
  host.ledger.move(entry, state, host.clock.now());
  const timeout = host.options.checkTimeout;
  const roundTrip = host.background.bounded(
    timeout,
    () => new PoolError("CHECK_TIMEOUT", `${action}: no answer within ${timeout} ms`),
    operation,
  );
  host.background.track(roundTrip.then(
    () => {
      // close() took it past its grace period.
      if (entry.state === "closed") return;
      const end = host.clock.now();
      entry.provenAt = end;
      onPass(end);
    },
    (error) => {
      if (entry.state !== "closed") onFail(error);
    },
  ));
}
