/**
 * The dashboard at `/` in a real headless Chromium: two pools under load,
 * served over loopback; the page must draw each pool's charts from its own
 * `metrics.json`, show the pools' figures, and request nothing elsewhere.
 * Leaves `dashboard.png` (and `dashboard-dark.png`) in `$X_POOL_ARTIFACTS`,
 * else `artifacts/`. Without Chromium at `CHROMIUM`, the test fails.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { ConnectionPool, postgresDriver } from "../mod.ts";
import { metricsHandler } from "../src/metrics_handler.ts";
import { startPostgres, type TestPostgres, waitFor } from "./_postgres.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = process.env.X_POOL_ARTIFACTS || new URL("../artifacts", import.meta.url).pathname;
const POLL_MS = 100;
const LOAD_MS = 5_000;
const QUERIES_PER_CALLER = 400;
const STEP_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 5_000;
const VIEWPORT = { width: 1280, height: 900 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `callers` loops of short queries on `pool`, each starting a little after
 * the one before so the load ramps up; each stops after `ms` or
 * {@linkcode QUERIES_PER_CALLER} queries.
 */
async function load(pool: ConnectionPool, callers: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  await Promise.all(Array.from({ length: callers }, async (_, i) => {
    await sleep(i * 200);
    for (let n = 0; n < QUERIES_PER_CALLER && Date.now() < deadline; n++) {
      await pool.execute("select pg_sleep($1::float8)", [0.002 + Math.random() * 0.008]);
      await sleep(Math.random() * 10);
    }
  }));
}

/** Serves `handler` on a free loopback port with `node:http`, which both runtimes have. */
async function serve(
  handler: (request: Request) => Response,
): Promise<{ origin: string; close: () => Promise<void> }> {
  const http = createServer(async (req, res) => {
    try {
      const response = handler(
        new Request(new URL(req.url ?? "/", "http://127.0.0.1"), { method: req.method }),
      );
      const body = new Uint8Array(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(body);
    } catch (error) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", resolve);
  });
  const address = http.address();
  assert.ok(address && typeof address === "object", "the server listens");
  return {
    origin: `http://127.0.0.1:${address.port}`,
    close: () => {
      http.closeAllConnections?.();
      return new Promise((resolve) => http.close(() => resolve()));
    },
  };
}

/** The pids of the Chromium processes using `userDataDir` (Linux /proc). */
function chromiumPids(userDataDir: string): number[] {
  if (!existsSync("/proc")) return [];
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (command.includes(`--user-data-dir=${userDataDir}`)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function launch(userDataDir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Cannot run the dashboard test: no Chromium at ${CHROMIUM}. ` +
        "Install Debian's chromium package (apt-get install chromium), as .ci/run does.",
    );
  }
  return await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT_MS,
    viewport: VIEWPORT,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Closes the browser, within {@linkcode CLOSE_TIMEOUT_MS}; kills what is left either way. */
async function shutDown(context: BrowserContext | undefined, userDataDir: string): Promise<void> {
  if (context) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      context.close().catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
  }
  for (const pid of chromiumPids(userDataDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await waitFor("Chromium to exit", () => chromiumPids(userDataDir).length === 0, CLOSE_TIMEOUT_MS);
}

/** What the page shows for one pool, read from the DOM. */
interface PanelState {
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
}

/**
 * Reads every pool panel into a {@linkcode PanelState}; runs in the page, as
 * source text because the test is type-checked without the DOM's types.
 */
const READ_PANELS = `(() => {
  const result = {};
  for (const section of document.querySelectorAll("section.pool")) {
    const state = { samples: Number(section.dataset.samples ?? 0), stats: {}, points: {}, tops: {}, baselines: {}, bars: {} };
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
    }
    result[section.dataset.pool] = state;
  }
  return result;
})()`;

function readPanels(page: Page): Promise<Record<string, PanelState>> {
  return page.evaluate(READ_PANELS) as Promise<Record<string, PanelState>>;
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

describe("the dashboard in headless Chromium", () => {
  after(() => server.stop());

  it("draws both pools' charts under load from its own origin, and leaves a screenshot", {
    timeout: 90_000,
  }, async () => {
    const options = { healthInterval: 300, acquireTimeout: 10_000 };
    const primary = new ConnectionPool({
      ...options,
      driver: postgresDriver(server.url),
      name: "primary",
      maxOpenConns: 4,
    });
    const replica = new ConnectionPool({
      ...options,
      driver: postgresDriver(server.url),
      name: "replica",
      maxOpenConns: 2,
    });
    const http = await serve(metricsHandler([primary, replica]));
    const userDataDir = await mkdtemp(join(tmpdir(), "x-pool-chromium-"));
    let context: BrowserContext | undefined;
    const loads = Promise.all([load(primary, 8, LOAD_MS), load(replica, 5, LOAD_MS)]);
    try {
      context = await launch(userDataDir);
      const page = context.pages()[0] ?? await context.newPage();
      const requested: string[] = [];
      const errors: string[] = [];
      page.on("request", (request) => requested.push(request.url()));
      page.on("pageerror", (error) => errors.push(`page error: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(`console: ${message.text()}`);
      });
      await page.goto(`${http.origin}/?interval=${POLL_MS}`, { timeout: STEP_TIMEOUT_MS });

      const drawn = (min: number) => async () => {
        const panels = await readPanels(page);
        return ["primary", "replica"].every((name) => (panels[name]?.samples ?? 0) >= min);
      };
      await waitFor("8 polls drawn", drawn(8), STEP_TIMEOUT_MS);
      const early = await readPanels(page);
      await loads;
      const settled = async () => {
        const panels = await readPanels(page);
        return [primary, replica].every((pool) =>
          panels[pool.name].stats.acquires === String(pool.getMetrics().acquireCount)
        );
      };
      await waitFor("the shown acquire counts to match the pools", settled, STEP_TIMEOUT_MS);
      await waitFor("4 more polls drawn", drawn(early.primary.samples + 4), STEP_TIMEOUT_MS);
      const later = await readPanels(page);

      await mkdir(ARTIFACTS, { recursive: true });
      const light = join(ARTIFACTS, "dashboard.png");
      const dark = join(ARTIFACTS, "dashboard-dark.png");
      await rm(light, { force: true });
      await rm(dark, { force: true });
      await page.screenshot({ path: light, fullPage: true, timeout: STEP_TIMEOUT_MS });
      await page.emulateMedia({ colorScheme: "dark" });
      await page.screenshot({ path: dark, fullPage: true, timeout: STEP_TIMEOUT_MS });
      assert.ok(await pngSize(light) > 20_000, "the screenshot is not blank");
      assert.ok(await pngSize(dark) > 20_000, "the dark screenshot is not blank");

      for (const pool of [primary, replica]) {
        const { name } = pool;
        const charts = later[name].points;
        assert.deepEqual(Object.keys(charts).sort(), [
          "acquire",
          "connections",
          "health",
          "utilization",
        ]);
        for (const [chart, series] of Object.entries(charts)) {
          assert.ok(Object.keys(series).length > 0, `${name} ${chart} draws lines`);
          for (const [key, points] of Object.entries(series)) {
            const before = early[name].points[chart][key];
            assert.ok(
              points > before && before >= 2,
              `${name} ${chart} ${key}: ${before} → ${points}`,
            );
          }
        }
        // The load held connections, kept them busy and made callers wait: those lines rise above 0.
        const { tops, baselines } = later[name];
        assert.ok(tops.connections.inUse < baselines.connections, `${name}: in use drawn`);
        assert.ok(
          tops.utilization.utilization < baselines.utilization,
          `${name}: utilization drawn`,
        );
        assert.ok(tops.acquire.waitAverage < baselines.acquire, `${name}: waits drawn`);

        const m = pool.getMetrics();
        const { stats } = later[name];
        assert.equal(stats.max, String(m.maxOpenConnections), `${name} max`);
        assert.equal(stats.waits, String(m.waitCount), `${name} waits`);
        assert.equal(stats.healthFailed, String(m.healthChecksFailed), `${name} health failed`);
        assert.ok(m.waitCount > 0, `${name}: the load made callers wait`);
      }
      assert.deepEqual([later.primary.stats.max, later.replica.stats.max], ["4", "2"]);

      assert.deepEqual(errors, [], "no script errors, CSP violations or failed loads");
      const origins = new Set(requested.map((url) => new URL(url).origin));
      assert.deepEqual([...origins], [http.origin], "every request went to the server");
      const polls = requested.filter((url) => new URL(url).pathname === "/metrics.json");
      assert.ok(polls.length >= 12, `${polls.length} polls of /metrics.json`);
    } finally {
      await shutDown(context, userDataDir);
      await loads.catch(() => {});
      await http.close();
      await Promise.all([primary.close(), replica.close()]);
      await rm(userDataDir, { recursive: true, force: true });
    }
    assert.deepEqual(chromiumPids(userDataDir), [], "no Chromium process is left");
  });
});
