/// <reference lib="dom" />
/**
 * Drawing a pool's samples as one SVG chart: axes, stacked areas, lines
 * with gaps, dots, bars, and marks where a percentile is only a floor.
 *
 * @module
 */

import { colored, svgElement } from "./dom.ts";
import { formatNumber } from "./format.ts";
import { SPAN } from "./interval.ts";
import { type Chart, HISTORY, type Sample, type SeriesKey } from "./samples.ts";

const W = 480, H = 170, LEFT = 44, RIGHT = 8, TOP = 8, BOTTOM = 22;

type Point = [x: number, y: number];
/** A drawn element and its kind, which decides what is drawn over what. */
type Layer = [kind: string, node: SVGElement];

/** A plotted value, 0 when there is none. */
const finite = (value: number | null): number =>
  value !== null && Number.isFinite(value) ? value : 0;

/** Draws `samples` on `svg` as `chart`, replacing what it showed; `now` is the right edge. */
export function drawChart(svg: SVGSVGElement, chart: Chart, samples: Sample[], now: number): void {
  svg.replaceChildren();
  drawUnit(svg, chart.unit);
  if (samples.length < 2) {
    const text = svgElement("text", { class: "empty", x: (W + LEFT) / 2, y: H / 2 });
    text.textContent = "waiting for data…";
    svg.append(text);
    return;
  }
  const top = ticks(chartMax(chart, samples), chart.whole).at(-1)!;
  drawAxes(svg, top, now, chart.whole);
  drawSeries(svg, chart, samples, top, now);
}

/** An empty chart for `name`'s panel, sized to what {@linkcode drawChart} draws. */
export function chartSvg(name: string, chart: Chart): SVGSVGElement {
  const svg = svgElement("svg", {
    viewBox: "0 0 " + W + " " + H,
    role: "img",
    "aria-label": name + ": " + chart.title,
  });
  svg.dataset.chart = chart.id;
  return svg;
}

/** 0, then a 1, 2 or 5 step (whole numbers only when whole) up to at least max: the y-axis ticks. */
function ticks(max: number, whole?: boolean): number[] {
  const rough = Math.max(max, 1e-9) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  // rough / power is in [1, 10), so a step is found.
  const step = Math.max(
    [1, 2, 5, 10].map((f) => f * power).find((s) => s >= rough)!,
    whole ? 1 : 0,
  );
  const top = Math.ceil(max / step - 1e-9) * step || step;
  const result = [];
  for (let value = 0; value <= top + step / 2; value += step) result.push(value);
  return result;
}

/** The y-axis maximum: the chart's fixed one, or the largest value drawn (at least 1). */
function chartMax(chart: Chart, samples: Sample[]): number {
  if (chart.max) return chart.max;
  let max = 1;
  for (const { values } of samples) {
    let stacked = 0;
    for (const [key, , , kind] of chart.series) {
      const value = finite(values[key]);
      if (kind === "stack") stacked += value;
      else max = Math.max(max, value);
    }
    max = Math.max(max, stacked);
  }
  return max;
}

function drawAxes(svg: SVGSVGElement, top: number, now: number, whole?: boolean): void {
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

function drawUnit(svg: SVGSVGElement, unit: string): void {
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

function xOf(time: number, now: number): number {
  return LEFT + (W - LEFT - RIGHT) * (1 - (now - time) / SPAN);
}

function yOf(value: number, top: number): number {
  return H - BOTTOM - (H - TOP - BOTTOM) * Math.min(value / top, 1);
}

/** An SVG path through points; a null point breaks the line, so a gap shows as one. */
function pathThrough(points: (Point | null)[]): string {
  return points.map((point, i) => {
    if (point === null) return "";
    const move = i === 0 || points[i - 1] === null ? "M" : "L";
    return move + point[0].toFixed(1) + " " + point[1].toFixed(1);
  }).join("");
}

function drawSeries(
  svg: SVGSVGElement,
  chart: Chart,
  samples: Sample[],
  top: number,
  now: number,
): void {
  const base = samples.map(() => 0);
  const lines: Layer[] = [];
  for (const [key, label, color, kind] of chart.series) {
    const value = (sample: Sample) => finite(sample.values[key]);
    const x = (sample: Sample) => xOf(sample.time, now);
    if (kind === "bar") {
      drawBars(svg, key, color, samples.map((sample): Point => [x(sample), value(sample)]), top);
      continue;
    }
    const lower = samples.map((sample, i): Point => [x(sample), yOf(base[i], top)]);
    if (kind === "stack") samples.forEach((sample, i) => base[i] += value(sample));
    // Stacks need every point; a line skips samples it has no value for.
    const upper = samples.map((sample, i): Point | null =>
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
    tip.textContent = label + ": " + formatNumber(samples.at(-1)!.values[key]);
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
function pointMarks(
  key: SeriesKey,
  color: string,
  samples: Sample[],
  points: (Point | null)[],
): Layer[] {
  const marks: Layer[] = [];
  points.forEach((point, i) => {
    if (point === null) return;
    if (!points[i - 1] && !points[i + 1]) {
      const dot = svgElement("circle", { class: "dot", cx: point[0], cy: point[1], r: 2 });
      marks.push(["mark", colored(dot, color)]);
    }
    const open = (sample: Sample | undefined) => sample?.values.open[key];
    if (!open(samples[i]) || open(samples[i - 1])) return;
    const label = svgElement("text", { class: "open", x: point[0], y: point[1] - 4 });
    label.textContent = "≥ " + formatNumber(finite(samples[i].values[key]) / 1000) + " s";
    label.dataset.open = key;
    marks.push(["mark", colored(label, color)]);
  });
  return marks;
}

function drawBars(
  svg: SVGSVGElement,
  key: SeriesKey,
  color: string,
  points: Point[],
  top: number,
): void {
  const width = Math.max(1.5, ((W - LEFT - RIGHT) / HISTORY) * 0.7);
  for (const [x, value] of points) {
    if (value <= 0) continue;
    const y = yOf(value, top);
    const bar = svgElement("rect", {
      class: "bar",
      x: x - width / 2,
      y,
      width,
      height: H - BOTTOM - y,
    });
    bar.dataset.series = key;
    svg.append(colored(bar, color));
  }
}
