import { describe, it } from "node:test";
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { metricsHandler, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/mod.ts";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { PRIMARY_PROBE, REPLICA_PROBE } from "../../src/cluster/_probes.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { LatencyHistogram } from "../../src/_core/histogram.ts";
import { dashboardHtml, INTERVAL_PERCENTILE } from "../../src/metrics/_dashboard/page.ts";
import { flush } from "../support/manual_clock.ts";
import { type Harness, harness, observe, waitThenTimeOut } from "../support/pool_helpers.ts";

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

/**
 * On a pool of one connection: one acquire that waits for it to open, one
 * from the idle set, one that waits 20 ms, one that times out after 100 ms,
 * and one more from the idle set.
 */
async function knownSequence(h: Harness): Promise<void> {
  (await waitThenTimeOut(h)).release();
  const last = await h.pool.getConnection();
  last.release();
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
    ];
    for (const [name, type, wanted] of expected) {
      assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
      assert.equal(value(families, name, pool), wanted, name);
    }
    assert.deepEqual([m.openConnections, m.inUse, m.idle, m.maxOpenConnections], [1, 1, 0, 1]);
    held.release();
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

describe("metricsHandler at /metrics.json", () => {
  it("serves each pool's name and getMetrics() as JSON", async () => {
    const a = harness({ name: "a", maxOpenConns: 3 });
    const b = harness({ name: "b" });
    const held = await a.pool.getConnection();
    const response = metricsHandler([a.pool, b.pool])(new Request("http://localhost/metrics.json"));
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    const body = await response.json();
    assert.deepEqual(body, {
      pools: [
        { name: "a", metrics: a.pool.getMetrics(), acquireHistogram: histogramJson(a.pool) },
        { name: "b", metrics: b.pool.getMetrics(), acquireHistogram: histogramJson(b.pool) },
      ],
    });
    assert.equal(body.pools[0].metrics.inUse, 1);
    held.release();
  });

  it("serves each pool's acquire histogram, its unbounded last bucket as le: null", async () => {
    const h = harness({ name: "a", maxOpenConns: 1 });
    await knownSequence(h);
    const handler = metricsHandler(h.pool);
    const { pools: [entry] } = await handler(new Request("http://localhost/metrics.json")).json();
    const histogram = h.pool.getAcquireHistogram();
    assert.ok(histogram.count > 0, "the sequence acquired");
    assert.equal(entry.acquireHistogram.count, histogram.count);
    assert.equal(entry.acquireHistogram.sum, histogram.sum);
    const les = entry.acquireHistogram.buckets.map((bucket: { le: number | null }) => bucket.le);
    assert.deepEqual(les, [0.1, 0.5, 1, 5, 10, 50, 100, 500, 1_000, 5_000, null]);
    assert.deepEqual(
      entry.acquireHistogram.buckets.map((bucket: { count: number }) => bucket.count),
      histogram.buckets.map((bucket) => bucket.count),
    );
    assert.equal(entry.acquireHistogram.buckets.at(-1).count, histogram.count);
    // Mapping null back to Infinity gives the pool's own histogram.
    const restored = entry.acquireHistogram.buckets.map((
      bucket: { le: number | null; count: number },
    ) => ({
      le: bucket.le ?? Infinity,
      count: bucket.count,
    }));
    assert.deepEqual(restored, histogram.buckets);
    await h.pool.close();
  });
});

/** The histogram as metrics.json should carry it. */
function histogramJson(pool: ConnectionPool) {
  const { buckets, sum, count } = pool.getAcquireHistogram();
  return {
    buckets: buckets.map(({ le, count }) => ({ le: le === Infinity ? null : le, count })),
    sum,
    count,
  };
}

type Bucket = { le: number | null; count: number };
type Estimate = { ms: number; open: boolean } | null;
/** The dashboard's own estimator, evaluated from the source the page embeds. */
const intervalPercentile = new Function(`return ${INTERVAL_PERCENTILE}`)() as (
  previous: Bucket[],
  current: Bucket[],
  q: number,
) => Estimate;

/** Cumulative buckets at `les` holding per-bucket `counts`. */
function cumulative(les: (number | null)[], counts: number[]): Bucket[] {
  let total = 0;
  return les.map((le, i) => ({ le, count: total += counts[i] }));
}

describe("the dashboard's per-poll percentile estimate", () => {
  const les = [1, 10, 100, null];
  const before = cumulative(les, [1000, 50, 5, 0]);

  it("uses only the acquisitions between two polls, interpolating within a bucket", () => {
    // Between the polls: 2 acquisitions under 1 ms, 8 between 10 and 100 ms.
    const after = cumulative(les, [1002, 50, 13, 0]);
    // p50: rank 5 of 10, the 3rd of the 8 in (10, 100]: 10 + 90 * 3/8.
    assert.deepEqual(intervalPercentile(before, after, 0.5), { ms: 10 + 90 * 3 / 8, open: false });
    // p99: rank 9.9, 7.9 of the 8 in (10, 100].
    const p99 = intervalPercentile(before, after, 0.99)!;
    assert.equal(p99.open, false);
    assert.ok(Math.abs(p99.ms - (10 + 90 * 7.9 / 8)) < 1e-9, `${p99.ms}`);
    // p10: rank 1 of 10, in the first bucket, which starts at 0.
    assert.deepEqual(intervalPercentile(before, after, 0.1), { ms: 0.5, open: false });
  });

  it("returns null when nothing was acquired between the polls", () => {
    assert.equal(intervalPercentile(before, before, 0.5), null);
  });

  it("gives the last finite bound, marked open, when the percentile lies beyond it", () => {
    const after = cumulative(les, [1001, 50, 5, 3]);
    assert.deepEqual(intervalPercentile(before, after, 0.99), { ms: 100, open: true });
    assert.deepEqual(intervalPercentile(before, after, 0.1), { ms: 0.4, open: false });
  });

  it("is the source the dashboard page runs", () => {
    assert.ok(dashboardHtml("bm9uY2U=").includes(INTERVAL_PERCENTILE));
  });
});

/** The CSP header's directives, by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(";").map((part) => part.trim().split(/\s+/)).map((
      [name, ...sources],
    ) => [name, sources]),
  );
}

describe("metricsHandler at /", () => {
  it("serves the dashboard as HTML, never cached, with a strict Content-Security-Policy", async () => {
    const handler = metricsHandler([harness({ name: "a" }).pool, harness({ name: "b" }).pool]);
    const response = handler(new Request("http://localhost/"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    const policy = directives(response.headers.get("content-security-policy") ?? "");
    const nonce = policy.get("script-src")?.[0].match(/^'nonce-([A-Za-z0-9+/=]{22,})'$/)?.[1];
    assert.ok(nonce, `script-src is one nonce: ${policy.get("script-src")}`);
    assert.deepEqual(Object.fromEntries(policy), {
      "default-src": ["'none'"],
      "script-src": [`'nonce-${nonce}'`],
      "style-src": [`'nonce-${nonce}'`],
      "connect-src": ["'self'"],
      "img-src": ["data:"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
      "frame-ancestors": ["'none'"],
    });
    const html = await response.text();
    assert.match(html, /^<!doctype html>/);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((match) => match[1]);
    const styles = [...html.matchAll(/<style\b([^>]*)>/g)].map((match) => match[1]);
    assert.deepEqual(scripts, [` nonce="${nonce}"`], "one inline script, with the nonce");
    assert.deepEqual(styles, [` nonce="${nonce}"`], "one inline style, with the nonce");
    assert.doesNotMatch(html, /\sstyle=/, "no style attribute, which the policy would block");
  });

  it("loads nothing from elsewhere: no external URL, and it polls metrics.json relative to itself", async () => {
    const html = await metricsHandler(harness().pool)(new Request("http://localhost/")).text();
    const urls = new Set(html.match(/https?:\/\/[^\s"'<>)]*/g));
    // The SVG namespace is a name for createElementNS, never fetched.
    assert.deepEqual([...urls], ["http://www.w3.org/2000/svg"], "no http(s) URL but a namespace");
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, "no external src or href");
    assert.doesNotMatch(html, /@import|url\(|\bimport\s*\(|<link rel="stylesheet"/, "no imports");
    for (const [, attribute] of html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)) {
      assert.equal(attribute, "data:,", "the only src/href is the empty favicon");
    }
    assert.match(html, /fetch\("metrics\.json"/, "the poll is relative, so a prefix works");
  });

  it("ships a script that parses", async () => {
    const html = await metricsHandler(harness().pool)(new Request("http://localhost/")).text();
    const script = html.match(/<script[^>]*>([\s\S]*)<\/script>/)?.[1];
    assert.ok(script && script.length > 1_000);
    // Compiles without running: a syntax error throws here rather than in the browser.
    assert.equal(typeof new Function(script), "function");
  });

  it("draws a fresh nonce for each response", async () => {
    const handler = metricsHandler(harness().pool);
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const response = handler(new Request("http://localhost/"));
      nonces.add(response.headers.get("content-security-policy")!.match(/'nonce-([^']+)'/)![1]);
      await response.body?.cancel();
    }
    assert.equal(nonces.size, 5);
  });

  it("answers HEAD with the headers and no body, and another method with 405", async () => {
    const handler = metricsHandler(harness().pool);
    const head = handler(new Request("http://localhost/", { method: "HEAD" }));
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/html; charset=utf-8");
    assert.ok(head.headers.get("content-security-policy"));
    assert.equal(head.body, null);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = handler(new Request("http://localhost/", { method }));
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    }
    assert.equal(handler(new Request("http://localhost/?interval=250")).status, 200);
  });
});

describe("metricsHandler on other requests", () => {
  it("answers 404 for another path and 405 with Allow for another method", async () => {
    const handler = metricsHandler(harness().pool);
    for (const path of ["/metric", "/metrics/", "/metrics.jsonx", "/index.html", "//"]) {
      const response = handler(new Request(`http://localhost${path}`));
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    for (const path of ["/metrics", "/metrics.json"]) {
      for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
        const response = handler(new Request(`http://localhost${path}`, { method }));
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.get("allow"), "GET");
        await response.body?.cancel();
      }
    }
    assert.equal(handler(new Request("http://localhost/metrics?x=1")).status, 200);
  });

  it("refuses a cluster member whose name another pool has", async () => {
    const { cluster, clock } = fakeCluster();
    const twin = new ConnectionPool({ driver: new FakeDriver(), clock, name: "replica-1" });
    assert.throws(
      () => metricsHandler([twin, cluster]),
      new RangeError(
        'Cannot create metrics handler: a replica of sources[1] is named "replica-1" like another pool; give each pool its own name option',
      ),
    );
    await Promise.all([cluster.close(), twin.close()]);
  });

  it("refuses no pools, a non-pool, and two pools of the same name", () => {
    assert.throws(() => metricsHandler([]), RangeError);
    assert.throws(() => metricsHandler({} as ConnectionPool), TypeError);
    assert.throws(
      () => metricsHandler([harness().pool, harness().pool]),
      /Cannot create metrics handler: sources\[1\] is named "default" like another pool/,
    );
  });
});

describe("the pool's name", () => {
  it("is the name option, or default", () => {
    assert.equal(harness().pool.name, "default");
    assert.equal(harness({ name: "orders" }).pool.name, "orders");
  });

  it("must be a non-empty string", () => {
    assert.throws(
      () => harness({ name: "" }),
      (e) => e instanceof RangeError && /name/.test(e.message),
    );
    assert.throws(
      () => harness({ name: 5 as unknown as string }),
      (e) => e instanceof TypeError && /name must be a string, got 5/.test(e.message),
    );
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

/**
 * A cluster of fake members on a manual clock: a primary at WAL position
 * 0/100, "replica-1" replaying up to it, and "replica-2" whose probe fails.
 */
function fakeCluster() {
  const clock = new ManualClock();
  const open = (name: string) => {
    const driver = new FakeDriver();
    const pool = new ConnectionPool({ driver, clock, name, healthInterval: 0 });
    return { driver, pool };
  };
  const primary = open("primary");
  const replica = open("replica-1");
  const broken = open("replica-2");
  const answer = (driver: FakeDriver, text: string, row: Record<string, unknown>) =>
    driver.queryResults.set(text, { rows: [row], rowCount: 1, command: "SELECT" });
  answer(primary.driver, PRIMARY_PROBE, { in_recovery: false, read_only: "off", lsn: "0/100" });
  answer(replica.driver, REPLICA_PROBE, { in_recovery: true, replay_lsn: "0/100" });
  broken.driver.queryErrors.set(REPLICA_PROBE, new Error("replica down"));
  const cluster = new ClusterPool({
    primary: primary.pool,
    replicas: [replica.pool, broken.pool],
    clock,
    healthInterval: 1_000,
    onError: () => {},
  });
  return { cluster, clock };
}

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

  it("serves each member's role and standing in metrics.json, and nothing extra for a plain pool", async () => {
    const { cluster } = fakeCluster();
    const standalone = harness({ name: "jobs" });
    await cluster.checkHealth();
    const handler = metricsHandler([cluster, standalone.pool]);
    const body = await handler(new Request("http://localhost/metrics.json")).json();
    const standing = body.pools.map((
      { name, role, healthy, lagMs, readOnly }: Record<string, unknown>,
    ) => ({ name, role, healthy, lagMs, readOnly }));
    assert.deepEqual(standing, [
      { name: "primary", role: "primary", healthy: true, lagMs: null, readOnly: false },
      { name: "replica-1", role: "replica", healthy: true, lagMs: 0, readOnly: false },
      { name: "replica-2", role: "replica", healthy: false, lagMs: null, readOnly: false },
      {
        name: "jobs",
        role: undefined,
        healthy: undefined,
        lagMs: undefined,
        readOnly: undefined,
      },
    ]);
    assert.equal(body.pools[3].metrics.maxOpenConnections, 10);
    assert.deepEqual(Object.keys(body.pools[3]), ["name", "metrics", "acquireHistogram"]);
    await Promise.all([cluster.close(), standalone.pool.close()]);
  });
});
