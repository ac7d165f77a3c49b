/**
 * The live dashboard that `metricsHandler` serves at `/`: one self-contained
 * HTML page (inline CSS and script, no other resources) that polls
 * `metrics.json` next to its own URL and draws each pool's history as SVG.
 *
 * @module
 */

/** The placeholder in {@linkcode DASHBOARD_HTML} for the CSP nonce. */
const NONCE = "__NONCE__";

/**
 * The dashboard page with `nonce` on its one `<style>` and one `<script>`,
 * for a Content-Security-Policy that allows those two and nothing else
 * inline. `nonce` must be base64 (it is not escaped).
 *
 * @example
 * ```ts
 * const html = dashboardHtml("cmFuZG9t");
 * ```
 */
export function dashboardHtml(nonce: string): string {
  return DASHBOARD_HTML.replaceAll(NONCE, nonce);
}

/**
 * The page's estimator of a percentile of the acquisitions between two
 * polls, as a function's source: the page embeds it, and the tests evaluate
 * the same text with `new Function`, since the page's script exports
 * nothing. Given two `metrics.json` histograms' `buckets` (cumulative,
 * `le: null` last) and `q` in (0, 1), it returns null when nothing was
 * acquired in between, else `{ ms, open }`; `open` means the percentile
 * fell in the unbounded last bucket and `ms` is the last finite bound.
 *
 * @example
 * ```ts
 * const estimate = new Function(`return ${INTERVAL_PERCENTILE}`)();
 * estimate([{ le: 1, count: 0 }, { le: null, count: 0 }], [{ le: 1, count: 2 }, { le: null, count: 2 }], 0.5);
 * // { ms: 0.5, open: false }
 * ```
 */
export const INTERVAL_PERCENTILE = String.raw`function intervalPercentile(previous, current, q) {
  // The lifetime counts are cumulative per bucket, so their change is the
  // cumulative count of this interval's acquisitions.
  const counts = current.map((bucket, i) => bucket.count - previous[i].count);
  const total = counts.at(-1);
  if (!(total > 0)) return null;
  const rank = q * total;
  const i = counts.findIndex((count) => count >= rank);
  const lower = i === 0 ? 0 : current[i - 1].le;
  const upper = current[i].le;
  if (upper === null) return { ms: lower, open: true };
  // Where in the bucket is unknown: assume its acquisitions spread evenly
  // between its bounds, and interpolate linearly.
  const below = i === 0 ? 0 : counts[i - 1];
  return { ms: lower + (upper - lower) * (rank - below) / (counts[i] - below), open: false };
}`;

const STYLE = String.raw`
:root {
  color-scheme: light dark;
  --bg: #f4f6f8; --panel: #ffffff; --fg: #18202b; --muted: #5d6978; --grid: #e4e8ed;
  --axis: #aab4c0; --ok: #15803d; --bad: #c81e1e;
  --inuse: #2563eb; --idle: #5fb35f; --connecting: #e08a00; --checking: #9b51e0;
  --waiting: #d62d52; --max: #5d6978; --util: #0e8fa8;
  --wait: #d62d52; --p50: #2563eb; --p95: #0e8fa8; --p99: #9b51e0; --passed: #5fb35f; --failed: #d62d52;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1217; --panel: #161b22; --fg: #e6eaef; --muted: #97a3b2; --grid: #252c36;
    --axis: #4a5463; --ok: #4ade80; --bad: #f87171;
    --inuse: #5b9cff; --idle: #6cc46c; --connecting: #f5b33d; --checking: #bb86fc;
    --waiting: #ff6b88; --max: #97a3b2; --util: #35c6e0;
    --wait: #ff6b88; --p50: #5b9cff; --p95: #35c6e0; --p99: #bb86fc; --passed: #6cc46c; --failed: #ff6b88;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem;
  padding: 1rem 1.5rem .5rem;
}
h1 { font-size: 1.2rem; margin: 0; }
.note { color: var(--muted); font-size: .85rem; }
.status {
  margin-left: auto; padding: .15rem .7rem; border-radius: 999px; font-size: .85rem;
  border: 1px solid var(--grid); background: var(--panel);
}
.status::before { content: "\25CF\00A0"; }
.status[data-state="live"]::before { color: var(--ok); }
.status[data-state="disconnected"] { color: var(--bad); border-color: var(--bad); }
main { display: grid; gap: 1.25rem; padding: .5rem 1.5rem 1.5rem; }
.pool {
  background: var(--panel); border: 1px solid var(--grid); border-radius: 10px;
  padding: 1rem 1.25rem 1.25rem;
}
.pool h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
.standing { font-size: .75rem; font-weight: normal; color: var(--muted); margin-left: .6rem; }
.standing[data-healthy="false"] { color: var(--bad); }
.stats {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(6.25rem, 1fr));
  gap: .5rem; margin: 0 0 1rem;
}
.stats div { border-left: 3px solid var(--grid); padding: .1rem .6rem; }
.stats dt {
  color: var(--muted); font-size: .68rem; text-transform: uppercase; letter-spacing: .04em;
  white-space: nowrap;
}
.stats dd { margin: 0; font-size: 1.2rem; font-variant-numeric: tabular-nums; white-space: nowrap; }
.stats .wide { grid-column: span 2; }
.stats .unit { color: var(--muted); font-size: .8rem; margin-left: .2rem; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1.25rem 2rem; }
@media (max-width: 52rem) { .charts { grid-template-columns: 1fr; } }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: .25rem; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { fill: var(--muted); font-size: 10.5px; font-variant-numeric: tabular-nums; }
svg .grid { stroke: var(--grid); }
svg .axis { stroke: var(--axis); }
svg .title { font-size: 10px; }
svg .empty { text-anchor: middle; font-size: 12px; }
svg .dot { fill: var(--c); }
svg .open { fill: var(--c); font-size: 10px; text-anchor: middle; }
.area { fill: var(--c); fill-opacity: .35; stroke: none; }
.line {
  fill: none; stroke: var(--c); stroke-width: 1.75; stroke-linejoin: round; stroke-linecap: round;
}
.line.limit { stroke-width: 1.25; stroke-dasharray: 5 4; }
.bar { fill: var(--c); }
.legend {
  display: flex; flex-wrap: wrap; gap: .2rem 1rem; list-style: none; margin: .35rem 0 0;
  padding: 0; color: var(--muted); font-size: .8rem;
}
.swatch {
  display: inline-block; width: .75rem; height: .75rem; margin-right: .35rem;
  border-radius: 2px; background: var(--c); vertical-align: -1px;
}
.swatch.limit { height: 0; border-top: 2px dashed var(--c); background: none; vertical-align: 3px; }
`;

const SCRIPT = String.raw`
"use strict";

${INTERVAL_PERCENTILE}

/** Samples kept per pool: the chart's width in polls. */
const HISTORY = 120;
const query = new URLSearchParams(location.search);
/** Milliseconds between polls: ?interval=, 100 to 60000, default 1000. */
const INTERVAL = Math.min(Math.max(Number(query.get("interval")) || 1000, 100), 60000);
const SPAN = HISTORY * INTERVAL;
const SVG = "http://www.w3.org/2000/svg";
const W = 480, H = 170, LEFT = 44, RIGHT = 8, TOP = 8, BOTTOM = 22;

/**
 * Each chart: its series (key, label, color variable, kind) and the unit
 * of its y axis. Stacked areas stack in the order given.
 */
const CHARTS = [
  {
    id: "connections", title: "Connections by state", unit: "connections", whole: true,
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
    id: "utilization", title: "Utilization (last 10 s)", unit: "% in use", max: 100,
    series: [["utilization", "open-connection time in use", "--util", "line"]],
  },
  {
    id: "acquire", title: "Wait and acquire time, per poll", unit: "ms",
    series: [
      ["waitAverage", "average wait", "--wait", "line"],
      ["intervalP50", "acquire p50", "--p50", "line"],
      ["intervalP95", "p95", "--p95", "line"],
      ["intervalP99", "p99", "--p99", "line"],
      ["acquireTimeP99", "p99, lifetime", "--p99", "limit"],
    ],
  },
  {
    id: "health", title: "Health checks", unit: "checks per poll", whole: true,
    series: [
      ["healthFailed", "failed", "--failed", "bar"],
      ["healthPassed", "passed", "--passed", "line"],
    ],
  },
];

/** The figures above the charts: label, unit, and each value's key and source. */
const STATS = [
  ["open / max", "", [["open", (m) => m.openConnections], ["max", (m) => m.maxOpenConnections]]],
  ["in use", "", [["inUse", (m) => m.inUse]]],
  ["idle", "", [["idle", (m) => m.idle]]],
  ["waiting", "", [["waiting", (m) => m.waiting]]],
  ["utilization", "%", [["utilization", (m) => m.utilization]]],
  ["acquire p50 / p99, lifetime", "ms", [["p50", (m) => m.acquireTimeP50], ["p99", (m) => m.acquireTimeP99]], "wide"],
  ["acquires", "", [["acquires", (m) => m.acquireCount]]],
  ["waits", "", [["waits", (m) => m.waitCount]]],
  ["timeouts", "", [["timeouts", (m) => m.acquireTimeouts]]],
  ["failed checks", "", [["healthFailed", (m) => m.healthChecksFailed]]],
];

/** Per pool name: its samples, oldest first, and its panel's elements. */
const pools = new Map();
const main = document.querySelector("main");
const badge = document.querySelector(".status");
document.querySelector(".note").textContent = "the last " + HISTORY + " polls of metrics.json";

/** A figure to read at a glance: whole numbers as they are, others to 3 digits or so. */
function formatNumber(value) {
  if (!Number.isFinite(value)) return "–";
  if (Number.isInteger(value) || Math.abs(value) >= 100) return String(Math.round(value));
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function colored(node, variable) {
  node.style.setProperty("--c", "var(" + variable + ")");
  return node;
}

function createPanel(name) {
  const section = element("section", "pool");
  section.dataset.pool = name;
  const heading = element("h2", "", name);
  const standing = element("span", "standing");
  heading.append(standing);
  section.append(heading);
  const stats = element("dl", "stats");
  const values = new Map();
  for (const [label, unit, parts, width] of STATS) {
    const item = element("div", width);
    const value = element("dd");
    parts.forEach(([key], i) => {
      const part = element("span", "", "–");
      part.dataset.stat = key;
      value.append(...(i > 0 ? [" / ", part] : [part]));
      values.set(key, part);
    });
    if (unit) value.append(element("span", "unit", unit));
    item.append(element("dt", "", label), value);
    stats.append(item);
  }
  const charts = element("div", "charts");
  const svgs = new Map();
  for (const chart of CHARTS) {
    const figure = element("figure");
    figure.append(element("figcaption", "", chart.title));
    const svg = svgElement("svg", {
      viewBox: "0 0 " + W + " " + H,
      role: "img",
      "aria-label": name + ": " + chart.title,
    });
    svg.dataset.chart = chart.id;
    const legend = element("ul", "legend");
    for (const [, label, color, kind] of chart.series) {
      const item = element("li");
      item.append(colored(element("span", "swatch " + kind), color), label);
      legend.append(item);
    }
    figure.append(svg, legend);
    charts.append(figure);
    svgs.set(chart.id, svg);
  }
  section.append(stats, charts);
  main.append(section);
  return { section, standing, values, svgs, samples: [] };
}

/**
 * What a chart plots that is not in the JSON as is: changes since the
 * previous poll. Lifetime percentiles barely move on a long-lived pool, so
 * the acquire lines come from this interval's histogram alone; null (a gap)
 * when nothing was acquired, and an open flag when only a bound is known.
 */
function derive(previous, entry) {
  const { metrics } = entry;
  const change = (key) => (previous ? metrics[key] - previous.metrics[key] : 0);
  // waitDuration grows when a wait ends, waitCount when one begins: divide
  // by the waits that ended, those begun less those still waiting.
  const ended = previous
    ? metrics.waitCount - metrics.waiting - (previous.metrics.waitCount - previous.metrics.waiting)
    : 0;
  const values = Object.assign({}, metrics, {
    waitAverage: ended > 0 ? change("waitDuration") / ended : 0,
    healthFailed: change("healthChecksFailed"),
    healthPassed: change("healthChecksPassed"),
  });
  for (const [key, q] of [["intervalP50", 0.5], ["intervalP95", 0.95], ["intervalP99", 0.99]]) {
    const estimate = previous
      ? intervalPercentile(previous.acquireHistogram.buckets, entry.acquireHistogram.buckets, q)
      : null;
    values[key] = estimate ? estimate.ms : null;
    values[key + "Open"] = estimate ? estimate.open : false;
  }
  return values;
}

function record(pool, entry, time) {
  const last = pool.samples.at(-1);
  // A counter that went back means the pool was recreated: start afresh.
  if (last && entry.metrics.acquireCount < last.metrics.acquireCount) pool.samples.length = 0;
  const previous = pool.samples.at(-1);
  pool.samples.push({
    time,
    metrics: entry.metrics,
    acquireHistogram: entry.acquireHistogram,
    values: derive(previous, entry),
  });
  if (pool.samples.length > HISTORY) pool.samples.splice(0, pool.samples.length - HISTORY);
}

/** 0, then a 1, 2 or 5 step (whole numbers only when whole) up to at least max: the y-axis ticks. */
function ticks(max, whole) {
  const rough = Math.max(max, 1e-9) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max([1, 2, 5, 10].map((f) => f * power).find((s) => s >= rough), whole ? 1 : 0);
  const top = Math.ceil(max / step - 1e-9) * step || step;
  const result = [];
  for (let value = 0; value <= top + step / 2; value += step) result.push(value);
  return result;
}

/** The y-axis maximum: the chart's fixed one, or the largest value drawn (at least 1). */
function chartMax(chart, samples) {
  if (chart.max) return chart.max;
  let max = 1;
  for (const { values } of samples) {
    let stacked = 0;
    for (const [key, , , kind] of chart.series) {
      const value = Number.isFinite(values[key]) ? values[key] : 0;
      if (kind === "stack") stacked += value;
      else max = Math.max(max, value);
    }
    max = Math.max(max, stacked);
  }
  return max;
}

function drawAxes(svg, top, now, whole) {
  const x0 = LEFT, x1 = W - RIGHT, y1 = H - BOTTOM;
  for (const value of ticks(top, whole)) {
    const y = yOf(value, top);
    svg.append(svgElement("line", { class: "grid", x1: x0, x2: x1, y1: y, y2: y }));
    const label = svgElement("text", { x: x0 - 5, y: y + 3.5, "text-anchor": "end" });
    label.textContent = String(Number(value.toPrecision(6)));
    svg.append(label);
  }
  const stepSeconds = ticks(SPAN / 1000)[1];
  for (let ago = 0; ago <= SPAN / 1000 + 1e-9; ago += stepSeconds) {
    const x = xOf(now - ago * 1000, now);
    svg.append(svgElement("line", { class: "axis", x1: x, x2: x, y1: y1, y2: y1 + 4 }));
    const label = svgElement("text", {
      x,
      y: H - 6,
      "text-anchor": ago === 0 ? "end" : ago * 1000 >= SPAN - 1 ? "start" : "middle",
    });
    label.textContent = ago === 0 ? "now" : "−" + formatNumber(ago) + " s";
    svg.append(label);
  }
  svg.append(svgElement("line", { class: "axis", x1: x0, x2: x1, y1: y1, y2: y1 }));
}

function drawUnit(svg, unit) {
  const label = svgElement("text", {
    class: "title",
    transform: "rotate(-90)",
    x: -(TOP + (H - TOP - BOTTOM) / 2),
    y: 10,
    "text-anchor": "middle",
  });
  label.textContent = unit;
  svg.append(label);
}

function xOf(time, now) {
  return LEFT + (W - LEFT - RIGHT) * (1 - (now - time) / SPAN);
}

function yOf(value, top) {
  return H - BOTTOM - (H - TOP - BOTTOM) * Math.min(value / top, 1);
}

/** An SVG path through points; a null point breaks the line, so a gap shows as one. */
function pathThrough(points) {
  return points.map((point, i) => {
    if (point === null) return "";
    const move = i === 0 || points[i - 1] === null ? "M" : "L";
    return move + point[0].toFixed(1) + " " + point[1].toFixed(1);
  }).join("");
}

function drawSeries(svg, chart, samples, top, now) {
  const base = samples.map(() => 0);
  const lines = [];
  for (const [key, label, color, kind] of chart.series) {
    const value = (sample) => (Number.isFinite(sample.values[key]) ? sample.values[key] : 0);
    const x = (sample) => xOf(sample.time, now);
    if (kind === "bar") {
      drawBars(svg, key, color, samples.map((sample) => [x(sample), value(sample)]), top);
      continue;
    }
    const lower = samples.map((sample, i) => [x(sample), yOf(base[i], top)]);
    if (kind === "stack") samples.forEach((sample, i) => base[i] += value(sample));
    // Stacks need every point; a line skips samples it has no value for.
    const upper = samples.map((sample, i) =>
      kind !== "stack" && !Number.isFinite(sample.values[key])
        ? null
        : [x(sample), yOf(kind === "stack" ? base[i] : value(sample), top)]
    );
    if (kind === "stack") {
      const area = svgElement("path", {
        class: "area",
        d: pathThrough(upper.concat(lower.reverse())) + "Z",
      });
      svg.append(colored(area, color));
    }
    const line = svgElement("path", { class: "line " + kind, d: pathThrough(upper) });
    line.dataset.series = key;
    line.dataset.points = String(upper.filter((point) => point !== null).length);
    const tip = svgElement("title", {});
    tip.textContent = label + ": " + formatNumber(samples.at(-1).values[key]);
    line.append(tip);
    lines.push([kind, colored(line, color)]);
    if (kind === "line") lines.push(...pointMarks(key, color, samples, upper));
  }
  // Where stacked edges coincide (a state with 0 connections), the lower state's edge shows.
  const stacked = lines.filter(([kind]) => kind === "stack").reverse();
  const others = lines.filter(([kind]) => kind !== "stack");
  for (const [, line] of stacked.concat(others)) svg.append(line);
}

/**
 * What a gappy line needs besides its path: a dot for a point with a gap on
 * both sides, which a path cannot show, and a "≥" label where a run of
 * points sits at the last finite bound because the percentile lay beyond it
 * (the line shows a floor there, not a value).
 */
function pointMarks(key, color, samples, points) {
  const marks = [];
  points.forEach((point, i) => {
    if (point === null) return;
    if (!points[i - 1] && !points[i + 1]) {
      const dot = svgElement("circle", { class: "dot", cx: point[0], cy: point[1], r: 2 });
      marks.push(["mark", colored(dot, color)]);
    }
    const open = (sample) => sample?.values[key + "Open"];
    if (!open(samples[i]) || open(samples[i - 1])) return;
    const label = svgElement("text", { class: "open", x: point[0], y: point[1] - 4 });
    label.textContent = "≥ " + formatNumber(samples[i].values[key] / 1000) + " s";
    label.dataset.open = key;
    marks.push(["mark", colored(label, color)]);
  });
  return marks;
}

function drawBars(svg, key, color, points, top) {
  const width = Math.max(1.5, ((W - LEFT - RIGHT) / HISTORY) * 0.7);
  for (const [x, value] of points) {
    if (value <= 0) continue;
    const y = yOf(value, top);
    const bar = svgElement("rect", { class: "bar", x: x - width / 2, y, width, height: H - BOTTOM - y });
    bar.dataset.series = key;
    svg.append(colored(bar, color));
  }
}

function drawChart(svg, chart, samples, now) {
  svg.replaceChildren();
  drawUnit(svg, chart.unit);
  if (samples.length < 2) {
    const text = svgElement("text", { class: "empty", x: (W + LEFT) / 2, y: H / 2 });
    text.textContent = "waiting for data…";
    svg.append(text);
    return;
  }
  const top = ticks(chartMax(chart, samples), chart.whole).at(-1);
  drawAxes(svg, top, now, chart.whole);
  drawSeries(svg, chart, samples, top, now);
}

function render(pool, now) {
  const metrics = pool.samples.at(-1).metrics;
  for (const [, , parts] of STATS) {
    for (const [key, read] of parts) pool.values.get(key).textContent = formatNumber(read(metrics));
  }
  pool.section.dataset.samples = String(pool.samples.length);
  for (const chart of CHARTS) drawChart(pool.svgs.get(chart.id), chart, pool.samples, now);
}

function show(state, text) {
  badge.dataset.state = state;
  badge.textContent = text;
}

/** A cluster member's role and standing beside its name; nothing for a plain pool. */
function showStanding(node, { role, healthy, lagMs, readOnly }) {
  if (role === undefined) return;
  let text = role;
  if (role === "replica") {
    text += healthy ? " · in rotation" : " · out of rotation";
    if (lagMs !== null) text += " · lag " + formatNumber(lagMs) + " ms";
  } else if (readOnly) text += " · read-only, writes refused";
  else if (!healthy) text += " · failing checks";
  node.textContent = text;
  node.dataset.healthy = String(healthy);
}

async function poll() {
  try {
    const response = await fetch("metrics.json", {
      cache: "no-store",
      signal: AbortSignal.timeout(Math.max(INTERVAL, 5000)),
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const body = await response.json();
    const now = Date.now();
    const names = new Set();
    for (const entry of body.pools) {
      const { name } = entry;
      names.add(name);
      if (!pools.has(name)) pools.set(name, createPanel(name));
      record(pools.get(name), entry, now);
      render(pools.get(name), now);
      showStanding(pools.get(name).standing, entry);
    }
    for (const [name, pool] of pools) {
      if (!names.has(name)) {
        pool.section.remove();
        pools.delete(name);
      }
    }
    show("live", "live · every " + formatNumber(INTERVAL / 1000) + " s");
  } catch (error) {
    show("disconnected", "disconnected (" + (error.message || error) + "), retrying");
  }
  setTimeout(poll, INTERVAL);
}

poll();
`;

const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>Connection pools</title>
<style nonce="${NONCE}">${STYLE}</style>
</head>
<body>
<header>
<h1>Connection pools</h1>
<span class="note"></span>
<span class="status" data-state="connecting" role="status">connecting…</span>
</header>
<main></main>
<script nonce="${NONCE}">${SCRIPT}</script>
</body>
</html>
`;
