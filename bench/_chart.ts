/**
 * `chart.svg`: A's overhead and B's throughput, with B's range over its
 * rounds, one column per runtime.
 *
 * @module
 */

import { num, OURS_A, type Results, TITLE } from "./_render_common.ts";

interface Bar {
  label: string;
  value: number;
  ours: boolean;
  /** The lowest and highest of the runs, drawn as a line across the bar's end. */
  range?: [number, number];
}

const FONT = 'font-family="system-ui, sans-serif"';

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One panel of horizontal bars, grouped; returns its SVG and height. */
function panel(
  x: number,
  y: number,
  width: number,
  title: string,
  unit: string,
  groups: { label: string; bars: Bar[] }[],
): { svg: string; height: number } {
  const labelWidth = 250;
  const barHeight = 13;
  const plot = width - labelWidth - 70;
  const max = Math.max(
    ...groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.range?.[1] ?? NaN]))
      .filter(Number.isFinite),
  );
  const parts = [
    `<text x="${x}" y="${y + 14}" ${FONT} font-size="13" font-weight="bold">${
      escape(title)
    }</text>`,
  ];
  let top = y + 26;
  for (const group of groups) {
    parts.push(
      `<text x="${x}" y="${top + 11}" ${FONT} font-size="11" font-weight="bold">${
        escape(group.label)
      }</text>`,
    );
    top += 16;
    for (const bar of group.bars) {
      const length = Number.isFinite(bar.value) ? Math.max(1, (bar.value / max) * plot) : 0;
      const fill = bar.ours ? "#d9480f" : "#868e96";
      const range = bar.range?.every(Number.isFinite)
        ? bar.range.map((v) => x + labelWidth + (v / max) * plot)
        : undefined;
      // The value's text starts past the bar and its range line.
      const textX = Math.max(x + labelWidth + length, range?.[1] ?? 0) + 4;
      parts.push(
        `<text x="${x + labelWidth - 6}" y="${top + 10}" ${FONT} text-anchor="end">${
          escape(bar.label)
        }</text>`,
        `<rect x="${x + labelWidth}" y="${top}" width="${length.toFixed(1)}" height="${
          barHeight - 2
        }" fill="${fill}"/>`,
        `<text x="${textX.toFixed(1)}" y="${top + 10}" ${FONT}>${num(bar.value)} ${unit}</text>`,
      );
      if (range) {
        const mid = top + (barHeight - 2) / 2;
        parts.push(
          `<line x1="${range[0].toFixed(1)}" y1="${mid}" x2="${range[1].toFixed(1)}" ` +
            `y2="${mid}" stroke="black" stroke-width="1"/>`,
        );
      }
      top += barHeight;
    }
    top += 6;
  }
  return { svg: parts.join("\n"), height: top - y };
}

/** The chart of A and B for every runtime in `all`, as SVG. */
export function renderChart(all: Results[]): string {
  const columnWidth = 620;
  const columns: { svg: string; height: number }[][] = all.map((r, column) => {
    const x = 10 + column * (columnWidth + 20);
    const a = panel(
      x,
      10,
      columnWidth,
      `${TITLE[r.runtime]} · A. getConnection + release, ns/op (lower is better)`,
      "ns",
      [1, 50].map((callers) => ({
        label: callers === 1 ? "1 caller" : "50 callers on 10 connections",
        bars: r.overhead.rows.filter((row) => row.callers === callers).map((row) => ({
          label: row.lender + (row.real ? " (real)" : ""),
          value: row.median.meanNs,
          ours: row.lender === OURS_A,
        })),
      })),
    );
    const b = panel(
      x,
      10 + a.height + 10,
      columnWidth,
      `${TITLE[r.runtime]} · B. select $1::int, queries/s (higher is better)`,
      "/s",
      [1, 10, 50].map((callers) => ({
        label: `${callers} caller${callers > 1 ? "s" : ""}, 10 connections`,
        bars: r.select.rows.filter((row) => row.query === "param" && row.callers === callers).map((
          row,
        ) => ({
          label: row.client,
          value: row.median.opsPerSec,
          ours: row.client.startsWith("@x/pool"),
          range: [
            Math.min(...row.runs.map((run) => run.opsPerSec)),
            Math.max(...row.runs.map((run) => run.opsPerSec)),
          ],
        })),
      })),
    );
    return [a, b];
  });
  const width = 20 + all.length * (columnWidth + 20);
  const height = 20 + Math.max(0, ...columns.map((c) => c.reduce((h, p) => h + p.height + 10, 0)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...columns.flat().map((p) => p.svg),
    "</svg>",
    "",
  ].join("\n");
}
