/**
 * C. Utilization at saturation: 50 callers on 10 connections running
 * `select 1`, read from `getUtilization()` and from sampled metrics.
 *
 * @module
 */

import type { TestPostgres } from "../examples/_postgres/start.ts";
import { load, type LoadResult } from "./_load.ts";
import { smoke } from "./_runtime.ts";
import { mean, medianOf } from "./_stats.ts";
import { xPool } from "./_contenders.ts";

/** One saturated run. */
export interface UtilizationRun extends Record<string, number> {
  /** `getUtilization()` at the end of the load, in percent. */
  utilization: number;
  /** The mean of `inUse / openConnections` over metrics sampled every 10 ms, in percent. */
  sampledInUse: number;
  /** The share of those samples with callers waiting, in percent. */
  sampledWaiting: number;
  /** Acquisitions that had to wait, in percent of all acquisitions. */
  waitedShare: number;
  opsPerSec: number;
}

const CALLERS = 50;

/** Runs benchmark C `repeats` times, each on a fresh pool so the 10 s window holds only the load. */
export async function benchUtilization(server: TestPostgres, repeats: number) {
  const loadMs = smoke ? 500 : 2_000;
  const runs: UtilizationRun[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const client = xPool(server.url, true);
    const pool = client.pool;
    try {
      // Opens the 10 connections: the window counts open time from here.
      await load(client.run.select1, 10, 20);
      const before = pool.getMetrics();
      const inUse: number[] = [];
      const waiting: number[] = [];
      const sampler = setInterval(() => {
        const m = pool.getMetrics();
        inUse.push((m.inUse / m.openConnections) * 100);
        waiting.push(m.waiting > 0 ? 100 : 0);
      }, 10);
      let result: LoadResult;
      try {
        result = await load(client.run.select1, CALLERS, loadMs);
      } finally {
        clearInterval(sampler);
      }
      const after = pool.getMetrics();
      runs.push({
        utilization: pool.getUtilization(),
        sampledInUse: mean(inUse),
        sampledWaiting: mean(waiting),
        waitedShare: ((after.waitCount - before.waitCount) /
          (after.acquireCount - before.acquireCount)) * 100,
        opsPerSec: result.opsPerSec,
      });
    } finally {
      await client.close();
    }
  }
  return { callers: CALLERS, poolSize: 10, loadMs, median: medianOf(runs), runs };
}
