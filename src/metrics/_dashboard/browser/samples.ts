/**
 * What the page keeps of each poll and what it shows of it: the samples,
 * the values derived from two consecutive polls, and the tables of figures
 * and charts, typed against `metrics.json` so that a renamed field fails
 * the type check. Free of the DOM, so the unit tests import it.
 *
 * @module
 */

import type { PoolJson } from "../../handler.ts";
import { intervalPercentile } from "./percentile.ts";

/** Samples kept per pool: the chart's width in polls. */
export const HISTORY = 120;

type Metrics = PoolJson["metrics"];

/** A sample's plotted values: the pool's metrics and what changed since the previous poll. */
export interface Values extends Metrics {
  /** Average wait, in ms, of the waits that ended in the interval. */
  waitAverage: number;
  /** Health checks that failed in the interval. */
  healthFailed: number;
  /** Health checks that passed in the interval. */
  healthPassed: number;
  /** In ms; null (a gap in the line) when nothing was acquired in the interval. */
  intervalP50: number | null;
  intervalP95: number | null;
  intervalP99: number | null;
  /** The percentiles that lay in the unbounded last bucket: their value is a floor. */
  open: Readonly<Partial<Record<SeriesKey, boolean>>>;
}

/** A value a chart can plot: every number, so not the flags nor the breaker's state. */
export type SeriesKey = Exclude<keyof Values, "open" | "circuitState">;

/** One poll of one pool. */
export interface Sample {
  /** When the poll was answered (ms since the epoch). */
  time: number;
  metrics: Metrics;
  acquireHistogram: PoolJson["acquireHistogram"];
  values: Values;
}

/** How a series is drawn: stacked areas, a line, a dashed limit line, or bars. */
export type SeriesKind = "stack" | "line" | "limit" | "bar";

/** A chart's series: its value, label, color variable and kind. */
export type Series = readonly [key: SeriesKey, label: string, color: string, kind: SeriesKind];

/** A chart: its series and the unit of its y axis. Stacked areas stack in the order given. */
export interface Chart {
  id: string;
  title: string;
  unit: string;
  /** Only whole numbers on the y axis. */
  whole?: boolean;
  /** A fixed top of the y axis. */
  max?: number;
  series: readonly Series[];
}

/** Each pool's charts. */
export const CHARTS: readonly Chart[] = [
  {
    id: "connections",
    title: "Connections by state",
    unit: "connections",
    whole: true,
    series: [
      ["inUse", "in use", "--inuse", "stack"],
      ["checking", "checking", "--checking", "stack"],
      ["connecting", "connecting", "--connecting", "stack"],
      ["idle", "idle", "--idle", "stack"],
      ["waiting", "waiting callers", "--waiting", "line"],
      ["maxOpenConnections", "max", "--max", "limit"],
    ],
  },
  {
    id: "utilization",
    title: "Utilization (last 10 s)",
    unit: "% in use",
    max: 100,
    series: [["utilization", "open-connection time in use", "--util", "line"]],
  },
  {
    id: "acquire",
    title: "Wait and acquire time, per poll",
    unit: "ms",
    series: [
      ["waitAverage", "average wait", "--wait", "line"],
      ["intervalP50", "acquire p50", "--p50", "line"],
      ["intervalP95", "p95", "--p95", "line"],
      ["intervalP99", "p99", "--p99", "line"],
      ["acquireTimeP99", "p99, lifetime", "--p99", "limit"],
    ],
  },
  {
    id: "health",
    title: "Health checks",
    unit: "checks per poll",
    whole: true,
    series: [
      ["healthFailed", "failed", "--failed", "bar"],
      ["healthPassed", "passed", "--passed", "line"],
    ],
  },
];

/** A figure above the charts: its label, unit, each value's key and source, and a class. */
export type Stat = readonly [
  label: string,
  unit: string,
  parts: readonly (readonly [key: string, read: (m: Metrics) => number])[],
  width?: string,
];

/** The figures above each pool's charts. */
export const STATS: readonly Stat[] = [
  ["open / max", "", [["open", (m) => m.openConnections], ["max", (m) => m.maxOpenConnections]]],
  ["in use", "", [["inUse", (m) => m.inUse]]],
  ["idle", "", [["idle", (m) => m.idle]]],
  ["waiting", "", [["waiting", (m) => m.waiting]]],
  ["utilization", "%", [["utilization", (m) => m.utilization]]],
  [
    "acquire p50 / p99, lifetime",
    "ms",
    [["p50", (m) => m.acquireTimeP50], ["p99", (m) => m.acquireTimeP99]],
    "wide",
  ],
  ["acquires", "", [["acquires", (m) => m.acquireCount]]],
  ["waits", "", [["waits", (m) => m.waitCount]]],
  ["timeouts", "", [["timeouts", (m) => m.acquireTimeouts]]],
  ["failed checks", "", [["healthFailed", (m) => m.healthChecksFailed]]],
];

/**
 * What a chart plots that is not in the JSON as is: changes since the
 * previous poll. Lifetime percentiles barely move on a long-lived pool, so
 * the acquire lines come from this interval's histogram alone; null (a gap)
 * when nothing was acquired, and an open flag when only a bound is known.
 */
export function derive(previous: Sample | undefined, entry: PoolJson): Values {
  const { metrics } = entry;
  const change = (key: "waitDuration" | "healthChecksFailed" | "healthChecksPassed") =>
    previous ? metrics[key] - previous.metrics[key] : 0;
  // waitDuration grows when a wait ends, waitCount when one begins: divide
  // by the waits that ended, those begun less those still waiting.
  const ended = previous
    ? metrics.waitCount - metrics.waiting - (previous.metrics.waitCount - previous.metrics.waiting)
    : 0;
  const estimate = (q: number) =>
    previous
      ? intervalPercentile(previous.acquireHistogram.buckets, entry.acquireHistogram.buckets, q)
      : null;
  const p50 = estimate(0.5), p95 = estimate(0.95), p99 = estimate(0.99);
  return {
    ...metrics,
    waitAverage: ended > 0 ? change("waitDuration") / ended : 0,
    healthFailed: change("healthChecksFailed"),
    healthPassed: change("healthChecksPassed"),
    intervalP50: p50 ? p50.ms : null,
    intervalP95: p95 ? p95.ms : null,
    intervalP99: p99 ? p99.ms : null,
    open: {
      intervalP50: p50 ? p50.open : false,
      intervalP95: p95 ? p95.open : false,
      intervalP99: p99 ? p99.open : false,
    },
  };
}

/** Adds `entry`, polled at `time`, to `samples`, keeping the last {@linkcode HISTORY}. */
export function record(samples: Sample[], entry: PoolJson, time: number): void {
  const last = samples.at(-1);
  // A counter that went back means the pool was recreated: start afresh.
  if (last && entry.metrics.acquireCount < last.metrics.acquireCount) samples.length = 0;
  const previous = samples.at(-1);
  samples.push({
    time,
    metrics: entry.metrics,
    acquireHistogram: entry.acquireHistogram,
    values: derive(previous, entry),
  });
  if (samples.length > HISTORY) samples.splice(0, samples.length - HISTORY);
}
