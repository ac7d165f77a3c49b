/**
 * D. Health-check overhead: the same load with `healthInterval` 1000 ms and
 * with health checks off. One caller on a pool of 10 open connections, so
 * nine stay idle and get pinged every second; under saturation no
 * connection is idle for a whole interval and none is ever pinged.
 *
 * @module
 */

import type { TestPostgres } from "../examples/_postgres/start.ts";
import { load } from "./_load.ts";
import { now, smoke } from "./_runtime.ts";
import { median, medianOf } from "./_stats.ts";
import { xPool } from "./_contenders.ts";

/** One run with or without health checks. */
export interface HealthRun extends Record<string, number> {
  opsPerSec: number;
  p99Us: number;
  /** Pings that passed during the load. */
  checks: number;
  /** Milliseconds spent in pings (`healthCheckDuration`) during the load. */
  checkMs: number;
  /** checkMs over open-connection time (open connections × load time), in percent. */
  checkShare: number;
}

const INTERVAL_MS = 1_000;

/** Runs benchmark D, alternating which configuration goes first. */
export async function benchHealth(server: TestPostgres, repeats: number) {
  const loadMs = smoke ? 1_300 : 3_000;
  const on: HealthRun[] = [];
  const off: HealthRun[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const checking of repeat % 2 === 0 ? [true, false] : [false, true]) {
      const client = xPool(server.url, true, {
        healthInterval: checking ? INTERVAL_MS : 0,
      });
      const pool = client.pool;
      try {
        await load(client.run.select1, 10, 20); // Opens the 10 connections.
        const before = pool.getMetrics();
        const start = now();
        const result = await load(client.run.select1, 1, loadMs);
        const elapsedMs = (now() - start) / 1e6;
        const after = pool.getMetrics();
        const checkMs = after.healthCheckDuration - before.healthCheckDuration;
        (checking ? on : off).push({
          opsPerSec: result.opsPerSec,
          p99Us: result.p99Us,
          checks: after.healthChecksPassed - before.healthChecksPassed,
          checkMs,
          checkShare: (checkMs / (after.openConnections * elapsedMs)) * 100,
        });
      } finally {
        await client.close();
      }
    }
  }
  return {
    intervalMs: INTERVAL_MS,
    callers: 1,
    poolSize: 10,
    loadMs,
    on: { median: medianOf(on), runs: on },
    off: { median: medianOf(off), runs: off },
    throughputRatio: median(on.map((r) => r.opsPerSec)) / median(off.map((r) => r.opsPerSec)),
  };
}
