/**
 * Driving the dashboard in headless Chromium for its browser tests: serving
 * a handler and opening its page, loading pools, reading each pool's panel
 * out of the DOM, and taking screenshots.
 *
 * @module
 */

import assert from "node:assert/strict";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { Page } from "playwright-core";
import type { ConnectionPool } from "../../mod.ts";
import { metricsHandler, type MetricsSource } from "../../src/metrics/mod.ts";
import { type BrowserPage, openPage, serve, type Served, VIEWPORT } from "../support/browser.ts";
import { waitFor } from "../support/postgres.ts";

const ARTIFACTS = process.env.X_POOL_ARTIFACTS ||
  new URL("../../artifacts", import.meta.url).pathname;
export const POLL_MS = 100;
const QUERIES_PER_CALLER = 400;
export const STEP_TIMEOUT_MS = 15_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `callers` loops of short queries on `pool`, each starting a little after
 * the one before so the load ramps up; each stops after `ms` or
 * {@linkcode QUERIES_PER_CALLER} queries.
 */
export async function load(pool: ConnectionPool, callers: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  await Promise.all(Array.from({ length: callers }, async (_, i) => {
    await sleep(i * 200);
    for (let n = 0; n < QUERIES_PER_CALLER && Date.now() < deadline; n++) {
      await pool.execute("select pg_sleep($1::float8)", [0.002 + Math.random() * 0.008]);
      await sleep(Math.random() * 10);
    }
  }));
}

/** Serves `pools`' handler, opens its dashboard, runs `test`, and closes all. */
export async function withDashboard(
  pools: MetricsSource[],
  test: (browser: BrowserPage, served: Served) => Promise<void>,
): Promise<void> {
  const served = await serve(metricsHandler(pools));
  try {
    const browser = await openPage(`${served.origin}/?interval=${POLL_MS}`);
    try {
      await test(browser, served);
    } finally {
      await browser.close();
    }
  } finally {
    await served.close();
  }
}

/** What the page shows for one pool, read from the DOM. */
export interface PanelState {
  samples: number;
  stats: Record<string, string>;
  /** Per chart, per series drawn as a line: its number of points. */
  points: Record<string, Record<string, number>>;
  /** Per chart, per line: the y of its highest point; y grows downwards. */
  tops: Record<string, Record<string, number>>;
  /** Per chart: the y of its x axis, where a value of 0 is drawn. */
  baselines: Record<string, number>;
  /** Bars drawn, per chart. */
  bars: Record<string, number>;
  /** Dots drawn for points with a gap on both sides, per chart. */
  dots: Record<string, number>;
  /** Per chart: the "≥" labels of points past the last finite bound, as series: text. */
  open: Record<string, string[]>;
}

/**
 * Reads every pool panel into a {@linkcode PanelState}; runs in the page, as
 * source text because the test is type-checked without the DOM's types.
 */
const READ_PANELS = `(() => {
  const result = {};
  for (const section of document.querySelectorAll("section.pool")) {
    const state = { samples: Number(section.dataset.samples ?? 0), stats: {}, points: {}, tops: {}, baselines: {}, bars: {}, dots: {}, open: {} };
    for (const dd of section.querySelectorAll("[data-stat]")) state.stats[dd.dataset.stat] = dd.textContent;
    for (const svg of section.querySelectorAll("svg[data-chart]")) {
      const chart = svg.dataset.chart;
      state.points[chart] = {};
      state.tops[chart] = {};
      state.baselines[chart] = Number(svg.querySelector("line.axis:last-of-type")?.getAttribute("y1"));
      for (const line of svg.querySelectorAll("path.line")) {
        state.points[chart][line.dataset.series] = Number(line.dataset.points);
        state.tops[chart][line.dataset.series] = line.getBBox().y;
      }
      state.bars[chart] = svg.querySelectorAll("rect.bar").length;
      state.dots[chart] = svg.querySelectorAll("circle.dot").length;
      state.open[chart] = [...svg.querySelectorAll("text[data-open]")].map((t) => t.dataset.open + ": " + t.textContent);
    }
    result[section.dataset.pool] = state;
  }
  return result;
})()`;

export function readPanels(page: Page): Promise<Record<string, PanelState>> {
  return evaluate(page, READ_PANELS) as Promise<Record<string, PanelState>>;
}

/** Evaluates `expression` in the page, within {@linkcode STEP_TIMEOUT_MS}. */
export async function evaluate(page: Page, expression: string): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(
      () => reject(new Error(`The page did not answer within ${STEP_TIMEOUT_MS} ms`)),
      STEP_TIMEOUT_MS,
    )
  );
  try {
    return await Promise.race([page.evaluate(expression), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The file's size, after checking it is a PNG of the viewport's width. */
async function pngSize(path: string): Promise<number> {
  const bytes = await readFile(path);
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getUint32(16), VIEWPORT.width, "PNG width");
  assert.ok(view.getUint32(20) >= VIEWPORT.height / 2, "PNG height");
  return bytes.length;
}

/** The status badge's state and text. */
export function readStatus(page: Page): Promise<{ state: string; text: string }> {
  return evaluate(
    page,
    `(() => { const s = document.querySelector(".status"); return { state: s.dataset.state, text: s.textContent }; })()`,
  ) as Promise<{ state: string; text: string }>;
}

/** Resolves once every one of `names` has at least `min` samples drawn. */
export function drawn(page: Page, names: string[], min: number): Promise<void> {
  return waitFor(`${min} polls drawn`, async () => {
    const panels = await readPanels(page);
    return names.every((name) => (panels[name]?.samples ?? 0) >= min);
  }, STEP_TIMEOUT_MS);
}

/** Takes a full-page screenshot to `name` in the artifacts folder; checks and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await rm(path, { force: true });
  await page.screenshot({ path, fullPage: true });
  assert.ok(await pngSize(path) > 20_000, `${name} is not blank`);
  return path;
}
