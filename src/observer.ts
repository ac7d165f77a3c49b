/**
 * Timings the pool reports as they happen, for metrics systems that record
 * each event themselves (OpenTelemetry histograms, StatsD) rather than read
 * `getMetrics()` on a schedule.
 *
 * @module
 */

/**
 * Receives a pool's timings, in milliseconds, synchronously on the path that
 * measured them: keep each call cheap. Register with
 * `ConnectionPool.observe()`. An error an observer throws goes to the pool's
 * `onError` hook as `"observer"` and changes nothing else.
 *
 * @example Logging slow acquisitions
 * ```ts
 * import { ConnectionPool, type PoolObserver, postgresDriver } from "@x/pool";
 *
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const observer: PoolObserver = {
 *   acquired(waitMs) {
 *     if (waitMs > 100) console.warn(`waited ${waitMs.toFixed(1)} ms for a connection`);
 *   },
 * };
 * const stop = pool.observe(observer);
 * // ...
 * stop();
 * ```
 */
export interface PoolObserver {
  /** A caller got a connection after waiting `waitMs` (0 when one was idle). */
  acquired?(waitMs: number): void;
  /** A caller gave a connection back after holding it for `useMs`. */
  released?(useMs: number): void;
  /** A connection opened; its connect took `createMs`. */
  connected?(createMs: number): void;
}
