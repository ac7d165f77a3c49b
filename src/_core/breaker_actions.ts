import type { PoolCounters } from "../pool_metrics.ts";
import type { BackgroundWork } from "./background.ts";
import type { CircuitBreaker } from "./circuit_breaker.ts";
import type { Connector } from "./connector.ts";
import type { EntryLedger } from "./ledger.ts";
import type { WaitingLine } from "./waiting_line.ts";

/** What the circuit breaker's actions need of the pool. */
export interface BreakerHost {
  readonly breaker: CircuitBreaker;
  readonly connector: Connector;
  readonly ledger: EntryLedger;
  readonly waiters: WaitingLine;
  readonly background: BackgroundWork;
  readonly counters: PoolCounters;
  readonly options: { readonly maxOpenConns: number };
  readonly closing: boolean;
  readonly generation: number;
  openForWaiters(): void;
}

/**
 * The connect backoff ended: an open breaker half-opens and sends its one
 * probe (a connect still in flight from before it opened is the probe
 * instead), else connects resume.
 */
export function backoffEnded(host: BreakerHost): void {
  if (!host.breaker.probe()) return host.openForWaiters();
  circuitChanged(host);
  sendProbe(host);
}

/**
 * Sends the half-open breaker's probe, unless a live connect is already it
 * or abandoned ones hold every slot (the first to let go sends it).
 */
export function sendProbe(host: BreakerHost): void {
  const { connector } = host;
  if (
    !host.closing && connector.connecting === connector.abandoned &&
    host.ledger.all.size + connector.connecting < host.options.maxOpenConns
  ) connector.connect(host.generation);
}

/** Tells `onError` of a change of state; an opening fails the waiters, who would wait for nothing. */
export function circuitChanged(host: BreakerHost): void {
  const error = host.breaker.error();
  host.background.report(error, "circuit");
  if (host.breaker.state !== "open" || host.waiters.size === 0) return;
  host.counters.circuitRejections += host.waiters.size;
  host.waiters.rejectAll(error);
}
