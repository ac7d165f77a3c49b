/**
 * A closed-loop load: `callers` async callers each run one query after
 * another until a time or count limit, every query timed.
 *
 * @module
 */

import { cpuMeter, now } from "./_runtime.ts";
import { quantile, sorted } from "./_stats.ts";

/** What one load measured. */
export interface LoadResult extends Record<string, number> {
  /** Completed queries per second. */
  opsPerSec: number;
  /** Latency of one query, from call to result, in microseconds. */
  p50Us: number;
  p99Us: number;
  /** CPU of this process, in percent of one core. */
  processCpu: number;
  /** CPU of the whole machine (server included), in percent of all cores. */
  machineCpu: number;
}

/**
 * Runs `query` from `callers` callers for `ms` milliseconds or `maxOps`
 * queries, whichever comes first. Always stops by itself.
 */
export async function load(
  query: () => Promise<unknown>,
  callers: number,
  ms: number,
  maxOps = 1_000_000,
): Promise<LoadResult> {
  const latencies = new Float64Array(maxOps);
  let started = 0;
  let done = 0;
  const meter = cpuMeter();
  const start = now();
  const end = start + ms * 1e6;
  const caller = async () => {
    while (started < maxOps && now() < end) {
      started++;
      const t0 = now();
      await query();
      latencies[done++] = now() - t0;
    }
  };
  const running: Promise<void>[] = [];
  for (let i = 0; i < callers; i++) running.push(caller());
  await Promise.all(running);
  const elapsed = now() - start;
  const cpu = meter();
  const ascending = sorted(latencies.subarray(0, done));
  return {
    opsPerSec: done / (elapsed / 1e9),
    p50Us: quantile(ascending, 0.5) / 1e3,
    p99Us: quantile(ascending, 0.99) / 1e3,
    processCpu: cpu.processPercent,
    machineCpu: cpu.machinePercent,
  };
}
