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

import { ConnectionPool } from "./pool.ts";
import type { PoolMetrics } from "./metrics.ts";
import { dashboardHtml } from "./_dashboard.ts";

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
 * The body of `/metrics.json`: each pool's name and `getMetrics()`.
 *
 * @example
 * ```ts
 * import type { MetricsJson } from "@x/pool/metrics";
 *
 * const response = await fetch("http://localhost:9187/metrics.json");
 * const { pools }: MetricsJson = await response.json();
 * for (const { name, metrics } of pools) console.log(name, metrics.inUse);
 * ```
 */
export interface MetricsJson {
  /** One entry per pool, in the order given to {@linkcode metricsHandler}. */
  pools: { name: string; metrics: PoolMetrics }[];
}

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
 *   and `xpool_health_checks_total` (by `result`: `passed`, `failed`); and
 *   the histogram `xpool_acquire_duration_seconds`. Every sample carries a
 *   `pool` label with the pool's name.
 * - `GET /metrics.json`: a {@linkcode MetricsJson}.
 * - `GET /` (or `HEAD`): a live dashboard, one self-contained HTML page
 *   that polls `metrics.json` (relative to its own URL, so it also works
 *   behind a router that strips a prefix) and draws, per pool, the
 *   connections by state, utilization, wait and acquire times, and health
 *   checks over its last 120 polls. `?interval=` sets the poll period in
 *   milliseconds (100 to 60000, default 1000). It loads nothing else: its
 *   Content-Security-Policy allows only its own inline style and script
 *   (by nonce) and requests to its own origin.
 * - Any other path: 404. Another method on those paths: 405.
 *
 * Each request reads the pools afresh; nothing is cached.
 *
 * @param pools One pool, or several with distinct names.
 * @returns The handler, for `Deno.serve`, `Bun.serve` or a router.
 * @throws {TypeError} When `pools` is not a pool or an array of pools.
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
 */
export function metricsHandler(
  pools: ConnectionPool | readonly ConnectionPool[],
): (request: Request) => Response {
  const list: readonly ConnectionPool[] = Array.isArray(pools) ? [...pools] : [pools];
  if (list.length === 0) {
    throw new RangeError("Cannot create metrics handler: no pools given");
  }
  const names = new Set<string>();
  for (const pool of list) {
    if (!(pool instanceof ConnectionPool)) {
      throw new TypeError(
        "Cannot create metrics handler: pools must be a ConnectionPool or an array of them",
      );
    }
    if (names.has(pool.name)) {
      throw new RangeError(
        `Cannot create metrics handler: two pools are named ${JSON.stringify(pool.name)}`,
      );
    }
    names.add(pool.name);
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
    if (pathname === "/metrics") {
      return new Response(prometheusText(list), {
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
      });
    }
    const body: MetricsJson = {
      pools: list.map((pool) => ({ name: pool.name, metrics: pool.getMetrics() })),
    };
    return Response.json(body);
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

type Sample = [labels: string, value: number];

interface Family {
  name: string;
  type: "gauge" | "counter";
  help: string;
  samples: (m: PoolMetrics) => Sample[];
}

const one = (value: number): Sample[] => [["", value]];

const FAMILIES: readonly Family[] = [
  gauge("connections_open", "Connections open or being opened.", (m) => m.openConnections),
  gauge("connections_in_use", "Connections held by callers.", (m) => m.inUse),
  gauge("connections_idle", "Connections ready to be handed out.", (m) => m.idle),
  gauge("connections_max", "The maxOpenConns limit.", (m) => m.maxOpenConnections),
  gauge("waiting_callers", "Callers waiting for a connection.", (m) => m.waiting),
  counter("acquires_total", "Connections handed to callers.", (m) => one(m.acquireCount)),
  counter("waits_total", "Acquisitions that had to wait.", (m) => one(m.waitCount)),
  counter(
    "acquire_timeouts_total",
    "Waits that ended with AcquireTimeoutError.",
    (m) => one(m.acquireTimeouts),
  ),
  counter(
    "connections_created_total",
    "Connections the driver opened.",
    (m) => one(m.connectionsCreated),
  ),
  counter("connections_closed_total", "Connections closed, by reason.", (m) => [
    [',reason="max_idle"', m.maxIdleClosed],
    [',reason="max_idle_time"', m.maxIdleTimeClosed],
    [',reason="max_lifetime"', m.maxLifetimeClosed],
    [',reason="lost"', m.connectionsLost],
    [',reason="reset"', m.resetClosed],
  ]),
  counter("health_checks_total", "Health-check pings, by result.", (m) => [
    [',result="passed"', m.healthChecksPassed],
    [',result="failed"', m.healthChecksFailed],
  ]),
];

function gauge(name: string, help: string, value: (m: PoolMetrics) => number): Family {
  return { name: `xpool_${name}`, type: "gauge", help, samples: (m) => one(value(m)) };
}

function counter(name: string, help: string, samples: (m: PoolMetrics) => Sample[]): Family {
  return { name: `xpool_${name}`, type: "counter", help, samples };
}

const HISTOGRAM = "xpool_acquire_duration_seconds";

function prometheusText(pools: readonly ConnectionPool[]): string {
  const snapshots = pools.map((pool) => ({
    label: `pool="${escapeLabel(pool.name)}"`,
    metrics: pool.getMetrics(),
    histogram: pool.getAcquireHistogram(),
  }));
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const { label, metrics } of snapshots) {
      for (const [labels, value] of family.samples(metrics)) {
        lines.push(`${family.name}{${label}${labels}} ${formatValue(value)}`);
      }
    }
  }
  lines.push(
    `# HELP ${HISTOGRAM} Time from getConnection() to hand-out; a hand-out from the idle set counts as 0.`,
    `# TYPE ${HISTOGRAM} histogram`,
  );
  for (const { label, histogram } of snapshots) {
    for (const { le, count } of histogram.buckets) {
      lines.push(`${HISTOGRAM}_bucket{${label},le="${formatValue(le / 1_000)}"} ${count}`);
    }
    lines.push(
      `${HISTOGRAM}_sum{${label}} ${formatValue(histogram.sum / 1_000)}`,
      `${HISTOGRAM}_count{${label}} ${histogram.count}`,
    );
  }
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value); // NaN prints as "NaN", as the format wants.
}
