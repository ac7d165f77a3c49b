/**
 * Pools' metrics over HTTP: {@linkcode metricsHandler} serves Prometheus text
 * at `/metrics`, JSON at `/metrics.json`, and a live dashboard at `/`, for
 * `Deno.serve`, `Bun.serve`, or anything that maps a `Request` to a
 * `Response`.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { metricsHandler } from "@x/pool/metrics";
 *
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * Deno.serve({ port: 9187 }, metricsHandler(pool));
 * ```
 *
 * @module
 */

export {
  metricsHandler,
  type MetricsJson,
  type MetricsSource,
  type PoolJson,
  PROMETHEUS_CONTENT_TYPE,
} from "./handler.ts";
