/**
 * The metrics handler's JSON at `/metrics.json`: each pool's metrics and
 * acquire histogram, and a cluster member's role and standing.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { metricsHandler } from "../../src/metrics/mod.ts";
import type { ConnectionPool } from "../../src/pool.ts";
import { harness } from "../support/pool_helpers.ts";
import { fakeCluster, knownSequence } from "./_metrics_fixtures.ts";

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
describe("metricsHandler at /metrics.json with a ClusterPool", () => {
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
