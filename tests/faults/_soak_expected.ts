/**
 * Which failures the soak expects, and why: those an operation meets on its
 * own (its deliberate errors, its timeouts and aborts, a full wait queue),
 * and those each fault can cause, to an operation that ran while the fault
 * was on or shortly after. Any other failure is a test failure.
 *
 * @module
 */

import postgres from "postgres";
import { PoolError } from "../../mod.ts";
import type { Fault } from "./_soak_faults.ts";
import { type Op, SoakAbort } from "./_soak_workload.ts";

/** How a failure is counted: a PoolError's code, "aborted", "sqlstate XXXXX" or a socket code. */
export function failureKind(error: unknown): string | undefined {
  if (error instanceof PoolError) return error.code;
  if (error instanceof SoakAbort) return "aborted";
  if (error instanceof postgres.PostgresError) return `sqlstate ${error.code}`;
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && typeof code === "string") return code;
  return undefined;
}

/**
 * What each operation may fail with when no fault is on: every one, a full
 * wait queue (20 callers, 8 connections, `maxWaiting` 14); the rest, what it
 * provokes itself. 57014 is a statement cancelled by an abort or a release,
 * 40001 a repeatable-read update that met a concurrent one. A statement with
 * a timeout may be pipelined behind another caller's `pg_sleep`, which then
 * runs to its end (docs/pipelining.md): its timeout may pass.
 */
const OWN: Record<Op, RegExp> = {
  execute: /^POOL_EXHAUSTED$/,
  executeTimeout: /^(POOL_EXHAUSTED|QUERY_TIMEOUT)$/,
  executeAbort: /^(POOL_EXHAUSTED|aborted|sqlstate 57014)$/,
  loan: /^(POOL_EXHAUSTED|aborted|sqlstate 57014)$/,
  transactionCommit: /^POOL_EXHAUSTED$/,
  transactionThrow: /^POOL_EXHAUSTED$/,
  transactionFail: /^(POOL_EXHAUSTED|sqlstate 22012|sqlstate 23505)$/,
  beginTx: /^(POOL_EXHAUSTED|sqlstate 40001)$/,
  dirtyRelease: /^POOL_EXHAUSTED$/,
  releaseRunning: /^(POOL_EXHAUSTED|sqlstate 57014)$/,
  sleepTimeout: /^(POOL_EXHAUSTED|QUERY_TIMEOUT)$/,
};

/** postgres.js's codes for a connection that broke under a statement, and the server's 08xxx. */
const BROKEN = "CONNECTION_(CLOSED|ENDED|DESTROYED)|ECONNRESET|EPIPE|sqlstate 08[0-9A-Z]{3}";
/** What a caller meets while no connection can open: its wait times out. */
const NO_CONNECT = "ACQUIRE_TIMEOUT|CONNECT_TIMEOUT|ECONNREFUSED";
/** What a caller meets while the network is slow or silent. */
const STALLED = "ACQUIRE_TIMEOUT|CONNECT_TIMEOUT|QUERY_TIMEOUT";

/**
 * What each fault can cause, and for how long after it is healed (ms): a
 * broken connection is noticed at once; connects refused make the pool back
 * off (up to 5 s) before it tries again, and a waiter then still has its
 * 1.5 s acquire timeout to run out.
 */
const CAUSES: Record<Fault, { causes: RegExp; lingers: number }> = {
  reset: { causes: new RegExp(`^(${BROKEN})$`), lingers: 2_000 },
  terminate: { causes: new RegExp(`^(${BROKEN}|sqlstate 57P01)$`), lingers: 2_000 },
  delay: { causes: new RegExp(`^(${STALLED})$`), lingers: 2_000 },
  blackhole: { causes: new RegExp(`^(${STALLED})$`), lingers: 2_000 },
  refuse: { causes: new RegExp(`^(${NO_CONNECT})$`), lingers: 7_000 },
  outage: { causes: new RegExp(`^(${BROKEN}|${NO_CONNECT})$`), lingers: 7_000 },
  // Retired connections are closed once idle, never under their holders.
  poolReset: { causes: /^$/, lingers: 0 },
  // Callers only wait during a lull; a fault injected within it has its own window.
  lull: { causes: /^$/, lingers: 0 },
};

/** When one fault was on; `end` is Infinity while it still is. */
interface Window {
  fault: Fault;
  start: number;
  end: number;
}

/** The faults injected so far, with when each was on. */
export class FaultLog {
  readonly #windows: Window[] = [];

  /** Notes that `fault` starts now; returns the function that notes its end. */
  open(fault: Fault): () => void {
    const window: Window = { fault, start: Date.now(), end: Infinity };
    this.#windows.push(window);
    return () => void (window.end = Date.now());
  }

  /** How many times each fault was injected. */
  counts(): Map<Fault, number> {
    const counts = new Map<Fault, number>();
    for (const { fault } of this.#windows) counts.set(fault, (counts.get(fault) ?? 0) + 1);
    return counts;
  }

  /**
   * What explains failure `kind` of operation `op`, which ran from `start`
   * to `end`: "own" (it provoked it), the fault that caused it, or undefined.
   */
  explain(op: Op, kind: string, start: number, end: number): "own" | Fault | undefined {
    if (OWN[op].test(kind)) return "own";
    // Latest first: the fault nearest in time is the likeliest cause.
    for (let i = this.#windows.length - 1; i >= 0; i--) {
      const { fault, start: on, end: off } = this.#windows[i];
      const { causes, lingers } = CAUSES[fault];
      if (on <= end && start <= off + lingers && causes.test(kind)) return fault;
    }
    return undefined;
  }
}
