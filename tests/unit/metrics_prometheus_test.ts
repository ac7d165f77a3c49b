/**
 * The metrics handler's Prometheus text at `/metrics`, read back with a
 * parser of the format: each family, its samples and labels, the acquire
 * histogram, and a cluster's members.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { metricsHandler, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/mod.ts";
import { LatencyHistogram } from "../../src/_core/histogram.ts";
import { flush } from "../support/manual_clock.ts";
import { harness, observe } from "../support/pool_helpers.ts";
import { fakeCluster, knownSequence } from "./_metrics_fixtures.ts";

/** A metric family as the parser returns it (it ships no types). */
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: {
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

const parse = parsePrometheusTextFormat as (text: string) => ParsedFamily[];

const BOUNDS = [
  "0.0001",
  "0.0005",
  "0.001",
  "0.005",
  "0.01",
  "0.05",
  "0.1",
  "0.5",
  "1",
  "5",
  "+Inf",
];

async function scrape(handler: (request: Request) => Response): Promise<Map<string, ParsedFamily>> {
  const response = handler(new Request("http://localhost/metrics"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  const text = await response.text();
  const families = parse(text);
  assert.ok(families.length > 0, "the parser found metrics");
  for (const family of families) {
    assert.match(family.name, /^xpool_[a-z_]+$/);
    assert.ok(text.includes(`# HELP ${family.name} `), `${family.name} has a HELP line`);
    assert.ok(text.includes(`# TYPE ${family.name} `), `${family.name} has a TYPE line`);
  }
  return new Map(families.map((family) => [family.name, family]));
}

/** The value of the one sample of `name` whose labels are `labels`. */
function value(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string>,
): number {
  const family = families.get(name);
  assert.ok(family, `${name} is exposed`);
  const found = family.metrics.filter((metric) => {
    const keys = Object.keys(metric.labels ?? {});
    return keys.length === Object.keys(labels).length &&
      keys.every((key) => metric.labels![key] === labels[key]);
  });
  assert.equal(found.length, 1, `one sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(found[0].value);
}

describe("metricsHandler at /metrics", () => {
  it("serves gauges and counters that match getMetrics() after a known sequence", async () => {
    const h = harness({ name: "main", maxOpenConns: 1 });
    await knownSequence(h);
    const held = await h.pool.getConnection();
    const families = await scrape(metricsHandler(h.pool));
    const m = h.pool.getMetrics();
    assert.equal(m.acquireCount, 5);
    assert.equal(m.waitCount, 3, "the first open, the 20 ms wait, the timed-out one");
    assert.equal(m.acquireTimeouts, 1);
    const pool = { pool: "main" };
    const expected: [string, string, number][] = [
      ["xpool_connections_open", "GAUGE", m.openConnections],
      ["xpool_connections_in_use", "GAUGE", m.inUse],
      ["xpool_connections_idle", "GAUGE", m.idle],
      ["xpool_connections_max", "GAUGE", m.maxOpenConnections],
      ["xpool_waiting_callers", "GAUGE", m.waiting],
      ["xpool_acquires_total", "COUNTER", m.acquireCount],
      ["xpool_waits_total", "COUNTER", m.waitCount],
      ["xpool_acquire_timeouts_total", "COUNTER", m.acquireTimeouts],
      ["xpool_connections_created_total", "COUNTER", m.connectionsCreated],
      ["xpool_retries_total", "COUNTER", m.retries],
    ];
    for (const [name, type, wanted] of expected) {
      assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
      assert.equal(value(families, name, pool), wanted, name);
    }
    assert.deepEqual([m.openConnections, m.inUse, m.idle, m.maxOpenConnections], [1, 1, 0, 1]);
    held.release();
  });

  it("serves the circuit breaker's state, openings and refusals, and connect errors", async () => {
    const h = harness({ name: "cb", breakerThreshold: 2 });
    const refused = new Error("connect ECONNREFUSED");
    h.driver.failConnects(2, refused);
    const families = async () => await scrape(metricsHandler(h.pool));
    const states = async () => {
      const scraped = await families();
      assert.equal(scraped.get("xpool_circuit_state")?.type, "GAUGE");
      return ["closed", "open", "half_open"].map((state) =>
        value(scraped, "xpool_circuit_state", { pool: "cb", state })
      );
    };
    assert.deepEqual(await states(), [1, 0, 0]);
    const waiter = observe(h.pool.getConnection());
    await h.clock.advanceAsync(50);
    assert.equal(waiter.status, "rejected");
    assert.deepEqual(await states(), [0, 1, 0]);
    await assert.rejects(h.pool.getConnection());
    h.driver.connectGate = new Promise(() => {});
    await h.clock.advanceAsync(100);
    assert.deepEqual(await states(), [0, 0, 1]);
    const scraped = await families();
    assert.equal(scraped.get("xpool_circuit_opens_total")?.type, "COUNTER");
    assert.equal(value(scraped, "xpool_circuit_opens_total", { pool: "cb" }), 1);
    assert.equal(value(scraped, "xpool_circuit_rejections_total", { pool: "cb" }), 2);
    assert.equal(value(scraped, "xpool_connect_errors_total", { pool: "cb" }), 2);
    await h.pool.close();
  });

  it("serves utilization as a ratio and leaks by kind", async () => {
    const h = harness({ name: "u", leakDetectionThreshold: 1_000 });
    const held = await h.pool.getConnection();
    await h.clock.advanceAsync(5_000);
    const scraped = await scrape(metricsHandler(h.pool));
    assert.equal(scraped.get("xpool_utilization_ratio")?.type, "GAUGE");
    assert.equal(
      value(scraped, "xpool_utilization_ratio", { pool: "u" }),
      h.pool.getUtilization() / 100,
    );
    assert.ok(h.pool.getUtilization() > 0);
    assert.equal(value(scraped, "xpool_leaks_total", { pool: "u", kind: "detected" }), 1);
    assert.equal(value(scraped, "xpool_leaks_total", { pool: "u", kind: "reclaimed" }), 0);
    held.release();
    await h.pool.close();
  });

  it("counts pipelined statements", async () => {
    const h = harness({ name: "piped", maxOpenConns: 1 });
    h.driver.pipelinable = () => true;
    h.driver.onOpen = (connection) => connection.holdPipeline = true;
    const calls = [1, 2, 3].map(() => h.pool.execute("select 1"));
    await flush();
    const families = await scrape(metricsHandler(h.pool));
    assert.equal(families.get("xpool_pipelined_statements_total")?.type, "COUNTER");
    assert.equal(value(families, "xpool_pipelined_statements_total", { pool: "piped" }), 2);
    h.driver.last!.answer(3);
    await Promise.all(calls);
  });

  it("counts closed connections by reason and health checks by result", async () => {
    const h = harness({ maxOpenConns: 2, maxIdleConns: 1 });
    const [a, b] = [await h.pool.getConnection(), await h.pool.getConnection()];
    a.release();
    b.release(); // maxIdleConns is 1: closed.
    h.pool.reset(); // Retires the idle one.
    await flush();
    const families = await scrape(metricsHandler(h.pool));
    const m = h.pool.getMetrics();
    assert.equal(families.get("xpool_connections_closed_total")?.type, "COUNTER");
    const reasons: [string, number][] = [
      ["max_idle", m.maxIdleClosed],
      ["max_idle_time", m.maxIdleTimeClosed],
      ["max_lifetime", m.maxLifetimeClosed],
      ["lost", m.connectionsLost],
      ["reset", m.resetClosed],
    ];
    for (const [reason, wanted] of reasons) {
      const got = value(families, "xpool_connections_closed_total", { pool: "default", reason });
      assert.equal(got, wanted, reason);
    }
    assert.deepEqual([m.maxIdleClosed, m.resetClosed], [1, 1]);
    assert.equal(families.get("xpool_health_checks_total")?.type, "COUNTER");
    for (
      const [result, wanted] of [["passed", m.healthChecksPassed], [
        "failed",
        m.healthChecksFailed,
      ]] as const
    ) {
      assert.equal(
        value(families, "xpool_health_checks_total", { pool: "default", result }),
        wanted,
      );
    }
  });

  it("serves the acquire times as a histogram: cumulative, monotonic, +Inf equal to the count", async () => {
    const h = harness({ maxOpenConns: 1 });
    await knownSequence(h);
    const slow = await h.pool.getConnection();
    const waiter = observe(h.pool.getConnection());
    await h.clock.advanceAsync(2_000);
    slow.release();
    await flush();
    waiter.value!.release();
    const families = await scrape(metricsHandler(h.pool));
    const family = families.get("xpool_acquire_duration_seconds");
    assert.equal(family?.type, "HISTOGRAM");
    assert.equal(family.metrics.length, 1);
    // The parser keeps a labelled histogram's buckets (by le) but drops its labels, _sum and
    // _count; those are read from the text below.
    const [sample] = family.metrics;
    assert.deepEqual(Object.keys(sample.buckets!).sort(), [...BOUNDS].sort()); // "1" and "5" sort first as keys.
    const counts = BOUNDS.map((le) => Number(sample.buckets![le]));
    for (let i = 1; i < counts.length; i++) {
      assert.ok(counts[i] >= counts[i - 1], `monotonic at ${BOUNDS[i]}`);
    }
    const m = h.pool.getMetrics();
    const text = await metricsHandler(h.pool)(new Request("http://localhost/metrics")).text();
    const line = (suffix: string) =>
      Number(
        text.match(
          new RegExp(`^xpool_acquire_duration_seconds_${suffix}\\{pool="default"\\} (\\S+)$`, "m"),
        )?.[1],
      );
    for (const le of BOUNDS) {
      assert.ok(
        text.includes(`xpool_acquire_duration_seconds_bucket{pool="default",le="${le}"} `),
        le,
      );
    }
    // Samples: 4 hand-outs from the idle set (0), one open on a fake driver (0 ms on the manual clock),
    // one 20 ms wait, one 2 s wait, and the timed-out wait never handed out.
    assert.equal(line("count"), m.acquireCount);
    assert.equal(counts.at(-1), m.acquireCount);
    assert.deepEqual(counts, [4, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6]);
    assert.ok(Math.abs(line("sum") - 2.02) < 1e-9, `sum ${line("sum")} is 2.02 s`);
    assert.deepEqual(h.pool.getAcquireHistogram().buckets.map((bucket) => bucket.count), counts);
  });

  it("labels two pools' samples with their names, escaped", async () => {
    const a = harness({ name: 'primary "eu"\\1\nx' });
    const b = harness({ name: "replica" });
    (await a.pool.getConnection()).release();
    const families = await scrape(metricsHandler([a.pool, b.pool]));
    for (const family of families.values()) {
      if (family.type === "HISTOGRAM") continue; // The parser drops a histogram's labels.
      const pools = new Set(family.metrics.map((metric) => metric.labels?.pool));
      assert.deepEqual([...pools].sort(), ['primary "eu"\\1\nx', "replica"], family.name);
    }
    assert.equal(value(families, "xpool_acquires_total", { pool: 'primary "eu"\\1\nx' }), 1);
    assert.equal(value(families, "xpool_acquires_total", { pool: "replica" }), 0);
    const text = await metricsHandler([a.pool, b.pool])(new Request("http://localhost/metrics"))
      .text();
    const counts = [
      ...text.matchAll(
        /^xpool_acquire_duration_seconds_count\{pool="((?:[^"\\]|\\.)*)"\} (\d+)$/gm,
      ),
    ];
    assert.deepEqual(counts.map((match) => [match[1], match[2]]), [
      ['primary \\"eu\\"\\\\1\\nx', "1"],
      ["replica", "0"],
    ]);
  });
});

describe("metricsHandler with a ClusterPool", () => {
  it("labels each member with its role and reports standing, lag and routed operations", async () => {
    const { cluster } = fakeCluster();
    const standalone = harness({ name: "jobs" });
    await cluster.checkHealth();
    await cluster.execute("insert into t values (1)");
    await cluster.executeRead("select 1");
    await cluster.executeRead("select 2");
    const families = await scrape(metricsHandler([cluster, standalone.pool]));

    const member = (pool: string, role: string) => ({ pool, role });
    assert.equal(value(families, "xpool_connections_max", member("primary", "primary")), 10);
    assert.equal(value(families, "xpool_connections_max", member("replica-1", "replica")), 10);
    assert.equal(value(families, "xpool_connections_max", { pool: "jobs" }), 10);
    assert.equal(value(families, "xpool_acquires_total", member("primary", "primary")), 2);
    assert.equal(value(families, "xpool_acquires_total", member("replica-1", "replica")), 3);

    const healthy = families.get("xpool_cluster_member_healthy")!;
    assert.equal(healthy.type, "GAUGE");
    assert.deepEqual(
      healthy.metrics.map((m) => [m.labels!.pool, m.labels!.role, Number(m.value)]),
      [["primary", "primary", 1], ["replica-1", "replica", 1], ["replica-2", "replica", 0]],
    );
    const lag = families.get("xpool_cluster_replication_lag_seconds")!;
    assert.deepEqual(
      lag.metrics.map((m) => [m.labels!.pool, Number(m.value)]),
      [["replica-1", 0]],
      "only the replica whose lag is known",
    );
    assert.deepEqual(
      families.get("xpool_cluster_primary_read_only")!.metrics.map((m) => Number(m.value)),
      [0],
    );
    assert.equal(value(families, "xpool_cluster_writes_total", member("primary", "primary")), 1);
    assert.equal(value(families, "xpool_cluster_reads_total", member("replica-1", "replica")), 2);
    assert.equal(value(families, "xpool_cluster_reads_total", member("replica-2", "replica")), 0);
    assert.equal(families.get("xpool_cluster_reads_total")!.type, "COUNTER");
    await Promise.all([cluster.close(), standalone.pool.close()]);
  });
});

describe("LatencyHistogram cumulative counts", () => {
  it("counts each sample at the first bound at or above its bucket's upper edge, and sums in O(1)", () => {
    const histogram = new LatencyHistogram();
    for (const ms of [0, 0.5, 3, 40, 800, 200_000, NaN, -1]) histogram.record(ms);
    assert.deepEqual(histogram.cumulativeCounts([0.1, 1, 10, 100, 1_000, Infinity]), [
      3,
      4,
      5,
      6,
      7,
      8,
    ]);
    assert.deepEqual(
      histogram.cumulativeCounts([5]),
      [8],
      "the last bound always holds every sample",
    );
    assert.equal(histogram.sum, 0.5 + 3 + 40 + 800 + 200_000);
  });
});
