/**
 * How the soak judges what happened: when an operation counts as hung, whether the pool's metrics add up, and the
 * tally printed at the end.
 *
 * @module
 */

import process from "node:process";
import type { PoolErrorEvent, PoolMetrics } from "../../mod.ts";
import { collectGarbage } from "../support/gc.ts";
import type { Op } from "./_soak_workload.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A hung operation: never expected, since every wait in the pool is bounded. */
class Hung extends Error {}

/** Settles as `promise`, or rejects with {@linkcode Hung} after `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hung(`${what} did not settle in ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

/** Counts of what happened, printed as one line at the end. */
export interface Tally {
  ops: number;
  successes: number;
  failures: Map<string, number>;
  byOp: Map<Op, number>;
  unexpected: { op: Op; error: unknown }[];
  /** Expected failures by what explains them: "own:KIND" or "FAULT:KIND". */
  causes: Map<string, number>;
  poolEvents: Map<PoolErrorEvent, number>;
  metricViolations: string[];
}

export function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export function format(map: Map<string, number>): string {
  return [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(" ");
}

/** What is wrong with a metrics snapshot, or undefined. */
export function inconsistency(metrics: PoolMetrics): string | undefined {
  const { openConnections, inUse, idle, connecting, checking, maxOpenConnections } = metrics;
  const sum = inUse + idle + connecting + checking;
  if (openConnections !== sum || openConnections > maxOpenConnections) {
    return `open ${openConnections}, in use ${inUse}, idle ${idle}, connecting ${connecting}, ` +
      `checking ${checking}, max ${maxOpenConnections}`;
  }
  return undefined;
}

export async function heapUsed(): Promise<number | undefined> {
  // Let finished timers and sockets drop their references first.
  await sleep(50);
  if (!collectGarbage()) return undefined;
  return process.memoryUsage().heapUsed;
}

/** The pool's nonzero counters that show which limit and fault paths ran. */
export function counters(metrics: PoolMetrics): Map<string, number> {
  const names = [
    "connectionsCreated",
    "connectErrors",
    "acquireTimeouts",
    "acquireRejections",
    "maxIdleClosed",
    "maxIdleTimeClosed",
    "maxLifetimeClosed",
    "connectionsLost",
    "resetClosed",
    "validationsFailed",
    "healthChecksPassed",
    "healthChecksFailed",
  ] as const;
  return new Map(names.filter((name) => metrics[name] > 0).map((name) => [name, metrics[name]]));
}

export function sum(map: Map<string, number>): number {
  let total = 0;
  for (const value of map.values()) total += value;
  return total;
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code === undefined ? "" : ` (${code})`}: ${error.message}\n` +
    (error.stack ?? "").split("\n").slice(1, 6).join("\n");
}
