import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { registerPoolMetrics } from "../../src/metrics/otel.ts";
import type { ConnectionPool } from "../../src/pool.ts";
import { flush } from "../support/manual_clock.ts";
import { type Harness, harness, observe, waitThenTimeOut } from "../support/pool_helpers.ts";

/** A reader whose `collect()` the test calls. */
class ManualReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A meter with a reader that collects on demand, cumulative unless told:
 * under delta temporality a series that is not observed is not reported.
 */
function setup(temporality = AggregationTemporality.CUMULATIVE) {
  const reader = new ManualReader({ aggregationTemporalitySelector: () => temporality });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter("@x/pool-test");
  const collect = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    return new Map(metrics.map((metric) => [metric.descriptor.name, metric]));
  };
  return { meter, collect };
}

/** `name`'s data points as `attributes -> value`, attributes as sorted `key=value` pairs. */
function points(metrics: Map<string, MetricData>, name: string): Record<string, number> {
  const metric = metrics.get(name);
  assert.ok(metric, `${name} is reported`);
  const out: Record<string, number> = {};
  for (const point of metric.dataPoints) {
    const key = Object.entries(point.attributes).sort().map(([k, v]) => `${k}=${v}`).join(",");
    out[key] = point.value as number;
  }
  return out;
}

const NAME = "db.client.connection.pool.name";

/**
 * On a pool of one connection: an acquire from an empty pool, one from the
 * idle set, one that waits 20 ms, and one that times out after 100 ms; then
 * a caller left waiting while the connection is held.
 */
async function knownSequence(h: Harness) {
  const held = await waitThenTimeOut(h);
  const pending = observe(h.pool.getConnection({ timeout: 0 }));
  return { held, pending };
}

describe("registerPoolMetrics", () => {
  it("reports counts, limit, pending requests and timeouts with the semantic-convention names, units and attributes", async () => {
    const h = harness({ name: "main", maxOpenConns: 1 });
    const { meter, collect } = setup();
    registerPoolMetrics(meter, h.pool);
    const { held, pending } = await knownSequence(h);

    const metrics = await collect();
    assert.deepEqual([...metrics.keys()].sort(), [
      "db.client.connection.count",
      "db.client.connection.create_time",
      "db.client.connection.max",
      "db.client.connection.pending_requests",
      "db.client.connection.timeouts",
      "db.client.connection.use_time",
      "db.client.connection.wait_time",
      "xpool.circuit.opens",
      "xpool.circuit.rejections",
      "xpool.circuit.state",
      "xpool.retries",
    ]);
    const expected = {
      "db.client.connection.count": ["{connection}", false],
      "db.client.connection.max": ["{connection}", false],
      "db.client.connection.pending_requests": ["{request}", false],
      "db.client.connection.timeouts": ["{timeout}", true],
      "xpool.retries": ["{retry}", true],
    } as const;
    for (const [name, [unit, monotonic]] of Object.entries(expected)) {
      const metric = metrics.get(name)!;
      assert.equal(metric.descriptor.unit, unit, `${name} unit`);
      assert.equal(metric.dataPointType, DataPointType.SUM, `${name} is a sum`);
      assert.equal(metric.dataPointType === DataPointType.SUM && metric.isMonotonic, monotonic);
    }
    assert.deepEqual(points(metrics, "db.client.connection.count"), {
      [`${NAME}=main,db.client.connection.state=idle`]: 0,
      [`${NAME}=main,db.client.connection.state=used`]: 1,
    });
    assert.deepEqual(points(metrics, "db.client.connection.max"), { [`${NAME}=main`]: 1 });
    assert.deepEqual(points(metrics, "db.client.connection.pending_requests"), {
      [`${NAME}=main`]: 1,
    });
    assert.deepEqual(points(metrics, "db.client.connection.timeouts"), { [`${NAME}=main`]: 1 });
    assert.deepEqual(points(metrics, "xpool.retries"), { [`${NAME}=main`]: 0 });

    held.release();
    await flush();
    assert.equal(pending.status, "fulfilled");
    pending.value!.release();
    await flush();
    const after = await collect();
    assert.deepEqual(points(after, "db.client.connection.count"), {
      [`${NAME}=main,db.client.connection.state=idle`]: 1,
      [`${NAME}=main,db.client.connection.state=used`]: 0,
    });
    assert.deepEqual(points(after, "db.client.connection.pending_requests"), {
      [`${NAME}=main`]: 0,
    });
    await h.pool.close();
  });

  it("reports the circuit breaker's state, openings and refusals", async () => {
    const h = harness({ name: "cb", breakerThreshold: 1 });
    const { meter, collect } = setup();
    registerPoolMetrics(meter, h.pool);
    const state = (metrics: Map<string, MetricData>) => points(metrics, "xpool.circuit.state");
    assert.deepEqual(state(await collect()), {
      [`${NAME}=cb,xpool.circuit.state=closed`]: 1,
      [`${NAME}=cb,xpool.circuit.state=half_open`]: 0,
      [`${NAME}=cb,xpool.circuit.state=open`]: 0,
    });
    h.driver.failConnects(1);
    await assert.rejects(h.pool.getConnection());
    await assert.rejects(h.pool.getConnection());
    const metrics = await collect();
    assert.deepEqual(state(metrics), {
      [`${NAME}=cb,xpool.circuit.state=closed`]: 0,
      [`${NAME}=cb,xpool.circuit.state=half_open`]: 0,
      [`${NAME}=cb,xpool.circuit.state=open`]: 1,
    });
    assert.deepEqual(points(metrics, "xpool.circuit.opens"), { [`${NAME}=cb`]: 1 });
    assert.deepEqual(points(metrics, "xpool.circuit.rejections"), { [`${NAME}=cb`]: 2 });
    const opens = metrics.get("xpool.circuit.opens")!;
    assert.equal(opens.dataPointType === DataPointType.SUM && opens.isMonotonic, true);
    await h.pool.close();
  });

  it("reports two pools under two pool.name values", async () => {
    const a = harness({ name: "primary", maxOpenConns: 5 });
    const b = harness({ name: "replica", maxOpenConns: 3 });
    const { meter, collect } = setup();
    registerPoolMetrics(meter, [a.pool, b.pool]);
    const held = [await a.pool.getConnection(), await a.pool.getConnection()];
    const idle = await b.pool.getConnection();
    idle.release();

    const metrics = await collect();
    assert.deepEqual(points(metrics, "db.client.connection.max"), {
      [`${NAME}=primary`]: 5,
      [`${NAME}=replica`]: 3,
    });
    assert.deepEqual(points(metrics, "db.client.connection.count"), {
      [`${NAME}=primary,db.client.connection.state=idle`]: 0,
      [`${NAME}=primary,db.client.connection.state=used`]: 2,
      [`${NAME}=replica,db.client.connection.state=idle`]: 1,
      [`${NAME}=replica,db.client.connection.state=used`]: 0,
    });
    for (const connection of held) connection.release();
    await Promise.all([a.pool.close(), b.pool.close()]);
  });

  it("records wait, use and create times in seconds as histograms, per pool", async () => {
    const h = harness({ name: "main", maxOpenConns: 1, validateAfterIdle: 0 });
    const other = harness({ name: "other" });
    const { meter, collect } = setup();
    registerPoolMetrics(meter, [h.pool, other.pool]);
    let open!: () => void;
    h.driver.connectGate = new Promise<void>((resolve) => open = resolve);
    const first = observe(h.pool.getConnection());
    await h.clock.advanceAsync(7);
    open();
    await flush();
    await h.clock.advanceAsync(30);
    first.value!.release();
    const second = await h.pool.getConnection();
    await h.clock.advanceAsync(5);
    second.release();

    const metrics = await collect();
    const expected = {
      "db.client.connection.wait_time": { count: 2, sum: 0.007, bucketCounts: [1, 0, 1] },
      "db.client.connection.use_time": { count: 2, sum: 0.035, bucketCounts: [0, 1, 0, 1] },
      "db.client.connection.create_time": { count: 1, sum: 0.007, bucketCounts: [0, 0, 1] },
    };
    for (const [name, want] of Object.entries(expected)) {
      const metric = metrics.get(name);
      assert.ok(metric, `${name} is reported`);
      assert.equal(metric.descriptor.unit, "s");
      assert.equal(metric.dataPointType, DataPointType.HISTOGRAM, `${name} is a histogram`);
      assert.equal(metric.dataPoints.length, 1, `${name}: only the pool that had events`);
      const [point] = metric.dataPoints;
      assert.deepEqual(point.attributes, { [NAME]: "main" });
      const value = point.value as {
        count: number;
        sum: number;
        buckets: { boundaries: number[]; counts: number[] };
      };
      assert.equal(value.count, want.count, `${name} count`);
      assert.ok(Math.abs(value.sum - want.sum) < 1e-9, `${name} sum ${value.sum}`);
      assert.deepEqual(
        value.buckets.boundaries,
        [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
        `${name} boundaries`,
      );
      const counts = [...want.bucketCounts, ...Array(10 - want.bucketCounts.length).fill(0)];
      // Buckets are (previous, bound]: 0 lands in the first, 7 ms in (5 ms, 10 ms].
      assert.deepEqual(value.buckets.counts, counts, `${name} buckets`);
    }
    await Promise.all([h.pool.close(), other.pool.close()]);
  });

  it("stops reading the pools once unregistered, and unregistering twice does nothing", async () => {
    const h = harness({ name: "main" });
    let reads = 0;
    const getMetrics = h.pool.getMetrics.bind(h.pool);
    h.pool.getMetrics = () => {
      reads++;
      return getMetrics();
    };
    const { meter, collect } = setup(AggregationTemporality.DELTA);
    const unregister = registerPoolMetrics(meter, h.pool);
    assert.ok((await collect()).has("db.client.connection.max"));
    assert.equal(reads, 1);

    unregister();
    unregister();
    (await h.pool.getConnection()).release();
    const metrics = await collect();
    assert.equal(reads, 1, "the pool is not read after unregistering");
    for (const metric of metrics.values()) {
      assert.deepEqual(metric.dataPoints, [], `${metric.descriptor.name} has no data points`);
    }
    await h.pool.close();
  });

  it("refuses a non-meter, no pools, a non-pool and two pools with one name", () => {
    const { meter } = setup();
    const pool = harness({ name: "same" }).pool;
    const twin = harness({ name: "same" }).pool;
    assert.throws(
      () => registerPoolMetrics({} as typeof meter, pool),
      new TypeError("Cannot register pool metrics: meter must be an OpenTelemetry Meter"),
    );
    assert.throws(
      () => registerPoolMetrics(meter, []),
      new RangeError("Cannot register pool metrics: no pools given"),
    );
    assert.throws(
      () => registerPoolMetrics(meter, [{} as ConnectionPool]),
      new TypeError(
        "Cannot register pool metrics: pools must be a ConnectionPool or an array of them",
      ),
    );
    assert.throws(
      () => registerPoolMetrics(meter, [pool, twin]),
      new RangeError(
        'Cannot register pool metrics: pools[1] is named "same" like another pool; give each pool its own name option',
      ),
    );
  });
});
