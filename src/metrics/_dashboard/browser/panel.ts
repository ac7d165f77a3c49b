/// <reference lib="dom" />
/**
 * A pool's panel: its name and standing, its figures, and its charts.
 *
 * @module
 */

import type { PoolJson } from "../../handler.ts";
import { chartSvg, drawChart } from "./charts.ts";
import { colored, element } from "./dom.ts";
import { formatNumber } from "./format.ts";
import { CHARTS, type Sample, STATS } from "./samples.ts";

/** A pool's panel and its samples, oldest first. */
export interface Panel {
  section: HTMLElement;
  standing: HTMLElement;
  /** The figures' elements, by key. */
  values: Map<string, HTMLElement>;
  /** The charts, by id. */
  svgs: Map<string, SVGSVGElement>;
  samples: Sample[];
}

/** A panel for the pool `name`, with no samples yet; the caller places it. */
export function createPanel(name: string): Panel {
  const section = element("section", "pool");
  section.dataset.pool = name;
  const heading = element("h2", "", name);
  const standing = element("span", "standing");
  heading.append(standing);
  section.append(heading);
  const stats = element("dl", "stats");
  const values = new Map<string, HTMLElement>();
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
  const svgs = new Map<string, SVGSVGElement>();
  for (const chart of CHARTS) {
    const figure = element("figure");
    figure.append(element("figcaption", "", chart.title));
    const svg = chartSvg(name, chart);
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
  return { section, standing, values, svgs, samples: [] };
}

/** Shows the panel's latest figures and redraws its charts, `now` at their right edge. */
export function render(panel: Panel, now: number): void {
  const metrics = panel.samples.at(-1)!.metrics;
  for (const [, , parts] of STATS) {
    for (const [key, read] of parts) {
      panel.values.get(key)!.textContent = formatNumber(read(metrics));
    }
  }
  panel.section.dataset.samples = String(panel.samples.length);
  for (const chart of CHARTS) drawChart(panel.svgs.get(chart.id)!, chart, panel.samples, now);
}

/**
 * Beside the pool's name: a cluster member's role and standing, and the
 * circuit breaker's state when it is not closed; nothing for a plain pool
 * whose breaker is closed.
 */
export function showStanding(
  node: HTMLElement,
  { role, healthy, lagMs, readOnly, metrics: { circuitState } }: PoolJson,
): void {
  const parts: string[] = [];
  if (role === "replica") {
    parts.push(role, healthy ? "in rotation" : "out of rotation");
    if (lagMs !== null) parts.push("lag " + formatNumber(lagMs) + " ms");
  } else if (role === "primary") {
    parts.push(role);
    if (readOnly) parts.push("read-only, writes refused");
    else if (!healthy) parts.push("failing checks");
  }
  if (circuitState !== "closed") {
    parts.push(circuitState === "open" ? "circuit open" : "circuit half-open, probing");
  }
  node.textContent = parts.join(" · ");
  node.dataset.circuit = circuitState;
  node.dataset.healthy = String((role === undefined || healthy) && circuitState === "closed");
}
