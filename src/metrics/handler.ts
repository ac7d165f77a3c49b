/**
 * A web-standard request handler that serves pools' metrics: Prometheus text
 * at `/metrics`, JSON at `/metrics.json`, and at `/` a live dashboard page
 * that polls the JSON and charts each pool. It works with `Deno.serve`,
 * `Bun.serve`, or anything else that maps a `Request` to a `Response`.
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

import { ClusterPool } from "../cluster/cluster_pool.ts";
import { ConnectionPool } from "../pool.ts";
import { UniqueNames } from "../_core/unique_names.ts";
import type { PoolMetrics } from "../pool_metrics.ts";
import { dashboardHtml } from "./_dashboard/page.ts";
import { prometheusText, type Served } from "./_prometheus.ts";

/**
 * The media type of the Prometheus text exposition format 0.0.4, as served
 * at `/metrics`.
 *
 * @example
 * ```ts
 * import { PROMETHEUS_CONTENT_TYPE } from "@x/pool/metrics";
 *
 * console.log(PROMETHEUS_CONTENT_TYPE); // "text/plain; version=0.0.4; charset=utf-8"
 * ```
 */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The body of `/metrics.json`: each pool's name and `getMetrics()`, and for
 * a member of a {@linkcode ClusterPool}, its role and standing.
 *
 * @example
 * ```ts
 * import type { MetricsJson } from "@x/pool/metrics";
 *
 * const response = await fetch("http://localhost:9187/metrics.json");
 * const { pools }: MetricsJson = await response.json();
 * for (const { name, role, metrics } of pools) console.log(name, role ?? "pool", metrics.inUse);
 * ```
 */
export interface MetricsJson {
  /**
   * One entry per pool, in the order given to {@linkcode metricsHandler};
   * a cluster's members in its order, the primary first.
   */
  pools: PoolJson[];
}

/**
 * One pool of {@linkcode MetricsJson}. The fields after `acquireHistogram` are
 * present only for a member of a {@linkcode ClusterPool}.
 *
 * @example
 * ```ts
 * import type { PoolJson } from "@x/pool/metrics";
 *
 * const outOfRotation = (pools: PoolJson[]) =>
 *   pools.filter((pool) => pool.role === "replica" && !pool.healthy).map((pool) => pool.name);
 * ```
 */
export interface PoolJson {
  /** The pool's `name`. */
  name: string;
  /** The pool's `getMetrics()`. */
  metrics: PoolMetrics;
  /**
   * The pool's `getAcquireHistogram()`: cumulative counts of acquisitions
   * that took at most `le` milliseconds, with their `sum` (ms) and `count`.
   * JSON has no Infinity, so the last bucket, which counts every
   * acquisition, has `le: null`.
   */
  acquireHistogram: {
    buckets: { le: number | null; count: number }[];
    sum: number;
    count: number;
  };
  /** Its place in its cluster. */
  role?: "primary" | "replica";
  /** A replica: in rotation for reads. The primary: its last check passed and it takes writes. */
  healthy?: boolean;
  /** A replica: milliseconds behind the primary at its last check, or null when unknown. */
  lagMs?: number | null;
  /** The primary: it reports `transaction_read_only = on`. */
  readOnly?: boolean;
}

/**
 * What {@linkcode metricsHandler} serves: pools, clusters, or a mix.
 *
 * @example
 * ```ts
 * import type { ConnectionPool } from "@x/pool";
 * import type { ClusterPool } from "@x/pool/cluster";
 * import type { MetricsSource } from "@x/pool/metrics";
 *
 * declare const cluster: ClusterPool;
 * declare const jobs: ConnectionPool;
 * const sources: MetricsSource[] = [cluster, jobs];
 * ```
 */
export type MetricsSource = ConnectionPool | ClusterPool;

/**
 * Makes a request handler that serves the metrics of `pools`:
 *
 * - `GET /metrics`: the Prometheus text format 0.0.4. Gauges
 *   `xpool_connections_open`, `xpool_connections_in_use`,
 *   `xpool_connections_idle`, `xpool_connections_max` and
 *   `xpool_waiting_callers`; counters `xpool_acquires_total`,
 *   `xpool_waits_total`, `xpool_acquire_timeouts_total`,
 *   `xpool_connections_created_total`, `xpool_connections_closed_total` (by
 *   `reason`: `max_idle`, `max_idle_time`, `max_lifetime`, `lost`, `reset`)
 *   `xpool_health_checks_total` (by `result`: `passed`, `failed`),
 *   `xpool_connect_errors_total` and `xpool_leaks_total` (by `kind`:
 *   `detected`, `reclaimed`); the gauge `xpool_utilization_ratio` (0 to 1,
 *   over the last 10 s); the circuit breaker's gauge `xpool_circuit_state`
 *   (by `state`: `closed`, `open`, `half_open`; 1 for the current one) and
 *   counters `xpool_circuit_opens_total` and `xpool_circuit_rejections_total`;
 *   and the histogram `xpool_acquire_duration_seconds`. Every sample carries a
 *   `pool` label with the pool's name. A cluster's members carry a `role`
 *   label too (`primary`, `replica`), and add the gauges
 *   `xpool_cluster_member_healthy` (1 or 0), `xpool_cluster_replication_lag_seconds`
 *   (replicas whose lag is known) and `xpool_cluster_primary_read_only`, and
 *   the counters `xpool_cluster_reads_total` and `xpool_cluster_writes_total`
 *   (operations the cluster routed to the member).
 * - `GET /metrics.json`: a {@linkcode MetricsJson}.
 * - `GET /` (or `HEAD`): a live dashboard, one self-contained HTML page
 *   that polls `metrics.json` (relative to its own URL, so it also works
 *   behind a router that strips a prefix) and draws, per pool, the
 *   connections by state, utilization, wait and acquire times (p50, p95
 *   and p99 of each poll's acquisitions, from the histogram's change
 *   since the previous poll), and health checks over its last 120 polls. `?interval=` sets the poll period in
 *   milliseconds (100 to 60000, default 1000). It loads nothing else: its
 *   Content-Security-Policy allows only its own inline style and script
 *   (by nonce) and requests to its own origin.
 * - Any other path: 404. Another method on those paths: 405.
 *
 * Each request reads the pools afresh; nothing is cached.
 *
 * @param sources One pool or cluster, or several; every pool, a cluster's
 *   members included, with a distinct name.
 * @returns The handler, for `Deno.serve`, `Bun.serve` or a router.
 * @throws {TypeError} When `sources` is not a pool, a cluster, or an array of them.
 * @throws {RangeError} When there are no pools, or two share a name.
 *
 * @example Serving two pools with Deno or Bun
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { metricsHandler } from "@x/pool/metrics";
 *
 * const url = Deno.env.get("DATABASE_URL")!;
 * const primary = new ConnectionPool({ driver: postgresDriver(url), name: "primary" });
 * const replica = new ConnectionPool({ driver: postgresDriver(url), name: "replica" });
 * const handler = metricsHandler([primary, replica]);
 * Deno.serve({ port: 9187 }, handler); // Bun: Bun.serve({ port: 9187, fetch: handler });
 * // Dashboard: http://localhost:9187/
 * ```
 *
 * @example A cluster's members, labelled with their roles
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { ClusterPool } from "@x/pool/cluster";
 * import { metricsHandler } from "@x/pool/metrics";
 *
 * const cluster = new ClusterPool({
 *   primary: new ConnectionPool({ driver: postgresDriver(Deno.env.get("PRIMARY_URL")!), name: "primary" }),
 *   replicas: [new ConnectionPool({ driver: postgresDriver(Deno.env.get("REPLICA_URL")!), name: "replica-1" })],
 * });
 * Deno.serve({ port: 9187 }, metricsHandler(cluster));
 * ```
 */
export function metricsHandler(
  sources: MetricsSource | readonly MetricsSource[],
): (request: Request) => Response {
  const list: readonly MetricsSource[] = Array.isArray(sources) ? [...sources] : [sources];
  const names = new UniqueNames("Cannot create metrics handler:", "pool");
  list.forEach((source, i) => {
    if (!(source instanceof ConnectionPool) && !(source instanceof ClusterPool)) {
      throw new TypeError(
        "Cannot create metrics handler: sources must be a ConnectionPool, a ClusterPool or an array of them",
      );
    }
    const where = Array.isArray(sources) ? `sources[${i}]` : "sources";
    for (const { pool, member } of served(source)) {
      const role = member?.role === "primary" ? "the primary" : "a replica";
      names.add(pool.name, member ? `${role} of ${where}` : where);
    }
  });
  if (names.size === 0) {
    throw new RangeError("Cannot create metrics handler: no pools given");
  }
  return (request: Request): Response => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return dashboard(request.method);
    if (pathname !== "/metrics" && pathname !== "/metrics.json") {
      return new Response("Not Found\n", { status: 404, headers: TEXT });
    }
    if (request.method !== "GET") {
      return new Response("Method Not Allowed\n", {
        status: 405,
        headers: { ...TEXT, allow: "GET" },
      });
    }
    const snapshot = list.flatMap(served);
    if (pathname === "/metrics") {
      return new Response(prometheusText(snapshot), {
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
      });
    }
    const body: MetricsJson = {
      pools: snapshot.map(({ pool, metrics, member }) => ({
        name: pool.name,
        metrics,
        acquireHistogram: histogramJson(pool),
        ...(member && {
          role: member.role,
          healthy: member.healthy,
          lagMs: member.lagMs,
          readOnly: member.readOnly,
        }),
      })),
    };
    return Response.json(body);
  };
}

/** The pools of `source`, read now: a cluster's standing changes between requests. */
function served(source: MetricsSource): Served[] {
  if (source instanceof ConnectionPool) return [{ pool: source, metrics: source.getMetrics() }];
  // members() and getMetrics() list the members in the same order.
  const pools = source.members().map((info) => info.pool);
  return source.getMetrics().members.map((member, i) => ({
    pool: pools[i],
    metrics: member.pool,
    member,
  }));
}

/** `getAcquireHistogram()` with the Infinity bound as null, which JSON can carry. */
function histogramJson(pool: ConnectionPool): PoolJson["acquireHistogram"] {
  const { buckets, sum, count } = pool.getAcquireHistogram();
  return {
    buckets: buckets.map(({ le, count }) => ({ le: le === Infinity ? null : le, count })),
    sum,
    count,
  };
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

function dashboard(method: string): Response {
  if (method !== "GET" && method !== "HEAD") {
    return new Response("Method Not Allowed\n", {
      status: 405,
      headers: { ...TEXT, allow: "GET, HEAD" },
    });
  }
  const nonce = randomNonce();
  const headers = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src data:", // The page's empty favicon, so no request for /favicon.ico.
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  return new Response(method === "HEAD" ? null : dashboardHtml(nonce), { headers });
}

/** 128 random bits in base64: a fresh CSP nonce for each page. */
function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
