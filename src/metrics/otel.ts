/**
 * Reports pools' metrics through OpenTelemetry, under the names of the
 * database client semantic conventions (`db.client.connection.*`). Give it
 * a `Meter` from `@opentelemetry/api`; the SDK you set up exports them.
 *
 * @example
 * ```ts
 * import { metrics } from "@opentelemetry/api";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { registerPoolMetrics } from "@x/pool/otel";
 *
 * const pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * registerPoolMetrics(metrics.getMeter("@x/pool"), pool);
 * ```
 *
 * @module
 */

import type { Meter } from "@opentelemetry/api";
import { ConnectionPool } from "../pool.ts";
import { UniqueNames } from "../_core/unique_names.ts";

/**
 * The part of an OpenTelemetry `Meter` (from `@opentelemetry/api`) that
 * {@linkcode registerPoolMetrics} uses. Every `Meter` is one; the narrow
 * type keeps this module's public types its own.
 *
 * @example
 * ```ts
 * import { metrics } from "@opentelemetry/api";
 * import type { PoolMetricsMeter } from "@x/pool/otel";
 *
 * const meter: PoolMetricsMeter = metrics.getMeter("@x/pool");
 * ```
 */
export interface PoolMetricsMeter {
  /** Creates an observable up-down counter. */
  createObservableUpDownCounter(name: string, options: InstrumentOptions): object;
  /** Creates an observable counter. */
  createObservableCounter(name: string, options: InstrumentOptions): object;
  /** Creates a histogram, recorded into as events happen. */
  createHistogram(name: string, options: HistogramOptions): RecordingHistogram;
  /** Registers a callback that observes several instruments at each collection. */
  addBatchObservableCallback(
    callback: (result: BatchObservation) => void,
    observables: object[],
  ): void;
  /** Removes a callback added with `addBatchObservableCallback`. */
  removeBatchObservableCallback(
    callback: (result: BatchObservation) => void,
    observables: object[],
  ): void;
}

/**
 * The options {@linkcode registerPoolMetrics} gives each instrument, as
 * OpenTelemetry's `MetricOptions`.
 *
 * @example
 * ```ts
 * import type { InstrumentOptions } from "@x/pool/otel";
 *
 * const options: InstrumentOptions = { description: "Open connections.", unit: "{connection}", valueType: 0 };
 * ```
 */
export interface InstrumentOptions {
  /** What the instrument measures. */
  description: string;
  /** The unit, in UCUM (`{connection}`, `s`). */
  unit: string;
  /** `0`, OpenTelemetry's `ValueType.INT`: every value is a whole number. */
  valueType: 0;
}

/**
 * The options {@linkcode registerPoolMetrics} gives each histogram, as
 * OpenTelemetry's `MetricOptions` with bucket advice.
 *
 * @example
 * ```ts
 * import type { HistogramOptions } from "@x/pool/otel";
 *
 * const options: HistogramOptions = {
 *   description: "Time to obtain a connection.",
 *   unit: "s",
 *   valueType: 1,
 *   advice: { explicitBucketBoundaries: [0.001, 0.01, 0.1, 1] },
 * };
 * ```
 */
export interface HistogramOptions {
  /** What the histogram measures. */
  description: string;
  /** The unit, in UCUM: `s`. */
  unit: string;
  /** `1`, OpenTelemetry's `ValueType.DOUBLE`. */
  valueType: 1;
  /** The bucket boundaries, in seconds. */
  advice: { explicitBucketBoundaries: number[] };
}

/**
 * The part of an OpenTelemetry `Histogram` that
 * {@linkcode registerPoolMetrics} uses.
 *
 * @example
 * ```ts
 * import type { RecordingHistogram } from "@x/pool/otel";
 *
 * function recordSeconds(histogram: RecordingHistogram, ms: number): void {
 *   histogram.record(ms / 1000, { "db.client.connection.pool.name": "default" });
 * }
 * ```
 */
export interface RecordingHistogram {
  /** Records one value with `attributes`. */
  record(value: number, attributes: Record<string, string>): void;
}

/**
 * What a batch observable callback records into, as OpenTelemetry's
 * `BatchObservableResult`.
 *
 * @example
 * ```ts
 * import type { BatchObservation } from "@x/pool/otel";
 *
 * function observeZero(result: BatchObservation, instrument: object): void {
 *   result.observe(instrument, 0, { "db.client.connection.pool.name": "default" });
 * }
 * ```
 */
export interface BatchObservation {
  /** Records `value` with `attributes` for one of the callback's instruments. */
  observe(observable: object, value: number, attributes: Record<string, string>): void;
}

/**
 * The histograms' bucket boundaries, in seconds: those the conventions advise
 * for `db.client.operation.duration`. The SDK's default boundaries (0 to
 * 10,000) are made for milliseconds and would put every pool timing in one bucket.
 */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] as const;

/** Each breaker state, and its name in the `xpool.circuit.state` attribute. */
const CIRCUIT_STATES = [["closed", "closed"], ["open", "open"], ["halfOpen", "half_open"]] as const;

// Compile-time proof that every Meter is a PoolMetricsMeter.
const _everyMeterFits = (meter: Meter): PoolMetricsMeter => meter;

/**
 * Registers observable instruments for `pools` on `meter`, named as the
 * OpenTelemetry semantic conventions for database client connection pools
 * name them. Every data point carries `db.client.connection.pool.name`, the
 * pool's `name`:
 *
 * - `db.client.connection.count` (up-down counter, `{connection}`), by
 *   `db.client.connection.state`: `idle` for connections ready to be handed
 *   out, `used` for connections held by callers or busy with the pool's own
 *   round trips (health check, validation, reset). Connections still being
 *   opened are in neither.
 * - `db.client.connection.max` (up-down counter, `{connection}`): the
 *   `maxOpenConns` limit.
 * - `db.client.connection.pending_requests` (up-down counter, `{request}`):
 *   callers waiting for a connection.
 * - `db.client.connection.timeouts` (counter, `{timeout}`): waits that ended
 *   with `AcquireTimeoutError`, over the pool's life.
 * - `xpool.retries` (counter, `{retry}`): statements and transactions run
 *   again after a retryable failure (`PoolMetrics.retries`); the semantic
 *   conventions have no name for it.
 * - `db.client.connection.wait_time` (histogram, `s`): how long each
 *   acquisition waited for a connection, 0 when one was idle.
 * - `db.client.connection.use_time` (histogram, `s`): how long each loan
 *   held its connection, from hand-out to release.
 * - `db.client.connection.create_time` (histogram, `s`): how long each
 *   connect took.
 *
 * And the circuit breaker's, which the conventions do not name:
 *
 * - `xpool.circuit.state` (up-down counter, `{state}`), by
 *   `xpool.circuit.state`: 1 for the current state (`closed`, `open`,
 *   `half_open`), 0 for the others.
 * - `xpool.circuit.opens` (counter, `{open}`): times it opened from closed.
 * - `xpool.circuit.rejections` (counter, `{request}`): calls refused with
 *   `CircuitOpenError`.
 *
 * Not reported: `db.client.connection.idle.max` and `idle.min` (the pool's
 * `maxIdleConns` and `minIdleConns` are in its options).
 *
 * The gauges and counters are read at each collection, one `getMetrics()`
 * per pool; the histograms are recorded as events happen, through
 * `pool.observe()`, from the time registration is made on.
 *
 * @param meter The meter to register on, e.g. `metrics.getMeter("@x/pool")`.
 * @param pools One pool, or several with distinct names.
 * @returns A function that removes the instruments' callback and the pools'
 *   observers, so the pools are no longer read or reported; calling it
 *   again does nothing.
 * @throws {TypeError} When `meter` is not a `Meter`, or `pools` is not a pool
 *   or an array of pools.
 * @throws {RangeError} When there are no pools, or two share a name.
 *
 * @example Two pools, stopped on shutdown
 * ```ts
 * import { metrics } from "@opentelemetry/api";
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { registerPoolMetrics } from "@x/pool/otel";
 *
 * const url = Deno.env.get("DATABASE_URL")!;
 * const primary = new ConnectionPool({ driver: postgresDriver(url), name: "primary" });
 * const replica = new ConnectionPool({ driver: postgresDriver(url), name: "replica" });
 * const unregister = registerPoolMetrics(metrics.getMeter("@x/pool"), [primary, replica]);
 * // ...
 * unregister();
 * await Promise.all([primary.close(), replica.close()]);
 * ```
 */
export function registerPoolMetrics(
  meter: PoolMetricsMeter,
  pools: ConnectionPool | readonly ConnectionPool[],
): () => void {
  if (typeof meter?.addBatchObservableCallback !== "function") {
    throw new TypeError("Cannot register pool metrics: meter must be an OpenTelemetry Meter");
  }
  const list: readonly ConnectionPool[] = Array.isArray(pools) ? [...pools] : [pools];
  if (list.length === 0) {
    throw new RangeError("Cannot register pool metrics: no pools given");
  }
  const names = new UniqueNames("Cannot register pool metrics:", "pool");
  list.forEach((pool, i) => {
    if (!(pool instanceof ConnectionPool)) {
      throw new TypeError(
        "Cannot register pool metrics: pools must be a ConnectionPool or an array of them",
      );
    }
    names.add(pool.name, Array.isArray(pools) ? `pools[${i}]` : "pools");
  });

  const count = meter.createObservableUpDownCounter("db.client.connection.count", {
    description: "The number of connections that are currently in the state described by state.",
    unit: "{connection}",
    valueType: 0,
  });
  const max = meter.createObservableUpDownCounter("db.client.connection.max", {
    description: "The maximum number of open connections allowed.",
    unit: "{connection}",
    valueType: 0,
  });
  const pending = meter.createObservableUpDownCounter("db.client.connection.pending_requests", {
    description: "The number of current pending requests for an open connection.",
    unit: "{request}",
    valueType: 0,
  });
  const timeouts = meter.createObservableCounter("db.client.connection.timeouts", {
    description:
      "The number of connection timeouts that have occurred trying to obtain a connection from the pool.",
    unit: "{timeout}",
    valueType: 0,
  });
  const retries = meter.createObservableCounter("xpool.retries", {
    description: "The number of statements and transactions run again after a retryable failure.",
    unit: "{retry}",
    valueType: 0,
  });
  const circuitState = meter.createObservableUpDownCounter("xpool.circuit.state", {
    description: "The circuit breaker's state: 1 for the current one, 0 for the others.",
    unit: "{state}",
    valueType: 0,
  });
  const circuitOpens = meter.createObservableCounter("xpool.circuit.opens", {
    description: "The number of times the circuit breaker opened from closed.",
    unit: "{open}",
    valueType: 0,
  });
  const circuitRejections = meter.createObservableCounter("xpool.circuit.rejections", {
    description: "The number of calls refused because the circuit breaker was open.",
    unit: "{request}",
    valueType: 0,
  });
  const observables = [
    count,
    max,
    pending,
    timeouts,
    circuitState,
    circuitOpens,
    circuitRejections,
    retries,
  ];
  const waitTime = meter.createHistogram("db.client.connection.wait_time", {
    description: "The time it took to obtain an open connection from the pool.",
    unit: "s",
    valueType: 1,
    advice: { explicitBucketBoundaries: [...SECONDS_BUCKETS] },
  });
  const useTime = meter.createHistogram("db.client.connection.use_time", {
    description: "The time between borrowing a connection and returning it to the pool.",
    unit: "s",
    valueType: 1,
    advice: { explicitBucketBoundaries: [...SECONDS_BUCKETS] },
  });
  const createTime = meter.createHistogram("db.client.connection.create_time", {
    description: "The time it took to create a new connection.",
    unit: "s",
    valueType: 1,
    advice: { explicitBucketBoundaries: [...SECONDS_BUCKETS] },
  });
  const unobserve = list.map((pool) => {
    const attributes = { "db.client.connection.pool.name": pool.name };
    return pool.observe({
      acquired: (ms) => waitTime.record(ms / 1000, attributes),
      released: (ms) => useTime.record(ms / 1000, attributes),
      connected: (ms) => createTime.record(ms / 1000, attributes),
    });
  });

  const callback = (result: BatchObservation): void => {
    for (const pool of list) {
      const m = pool.getMetrics();
      const poolName = { "db.client.connection.pool.name": pool.name };
      result.observe(count, m.idle, { ...poolName, "db.client.connection.state": "idle" });
      result.observe(count, m.inUse + m.checking, {
        ...poolName,
        "db.client.connection.state": "used",
      });
      result.observe(max, m.maxOpenConnections, poolName);
      result.observe(pending, m.waiting, poolName);
      result.observe(timeouts, m.acquireTimeouts, poolName);
      result.observe(retries, m.retries, poolName);
      for (const [state, name] of CIRCUIT_STATES) {
        result.observe(circuitState, m.circuitState === state ? 1 : 0, {
          ...poolName,
          "xpool.circuit.state": name,
        });
      }
      result.observe(circuitOpens, m.circuitOpens, poolName);
      result.observe(circuitRejections, m.circuitRejections, poolName);
    }
  };
  meter.addBatchObservableCallback(callback, observables);

  let registered = true;
  return (): void => {
    if (!registered) return;
    registered = false;
    meter.removeBatchObservableCallback(callback, observables);
    for (const stop of unobserve) stop();
  };
}
