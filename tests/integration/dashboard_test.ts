/**
 * The dashboard at `/` in a real headless Chromium, served over loopback:
 * two pools under load, whose charts it must draw from its own
 * `metrics.json`, showing the pools' figures and requesting nothing
 * elsewhere; an unreachable server, which it must show as disconnected and
 * then resume; health-check failures, drawn as bars; and per-poll acquire
 * percentiles, which must show a burst the lifetime ones hide, leave gaps
 * where nothing was acquired and mark what lies past the last bound; and an
 * open circuit breaker beside its pool's name. Leaves screenshots
 * (`dashboard.png`, `dashboard-dark.png`, `dashboard-health.png`,
 * `dashboard-burst.png`, `dashboard-open-bucket.png`) in
 * `$X_POOL_ARTIFACTS`, else `artifacts/`. Without Chromium the tests fail.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { metricsHandler, type PoolJson } from "../../src/metrics/mod.ts";
import { openPage, serve } from "../support/browser.ts";
import { admin, freePort, startPostgres, type TestPostgres, waitFor } from "../support/postgres.ts";
import { serverControl } from "../support/server_control.ts";
import {
  drawn,
  evaluate,
  load,
  POLL_MS,
  readPanels,
  readStatus,
  screenshot,
  sleep,
  STEP_TIMEOUT_MS,
  withDashboard,
} from "./_dashboard_page.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db = admin(server.url);

const LOAD_MS = 5_000;
/** Fast hand-outs before the burst: enough that the burst is under 1% of all acquisitions. */
const CALM_ACQUIRES = 2_000;
const BURST_CALLERS = 4;
const BURST_HOLD_MS = 150;

const control = serverControl(server, db);

describe("the dashboard in headless Chromium", () => {
  after(async () => {
    await control.close();
    await db.close();
    await server.stop();
  });

  it("draws both pools' charts under load, from its own origin only, and leaves screenshots", {
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
    const pools = [primary, replica];
    const names = pools.map((pool) => pool.name);
    let loads: Promise<unknown> | undefined;
    try {
      await withDashboard(pools, async ({ page, requested, pageErrors, consoleErrors }, served) => {
        await drawn(page, names, 2);
        // Once the page polls, so that it sees the load however long Chromium took to start.
        loads = Promise.all([load(primary, 8, LOAD_MS), load(replica, 5, LOAD_MS)]);
        await drawn(page, names, 10);
        const early = await readPanels(page);
        await loads;
        // After the load, idle connections get health-checked: the passed line rises too.
        await waitFor(
          "health checks",
          () => pools.every((pool) => pool.getMetrics().healthChecksPassed > 0),
          STEP_TIMEOUT_MS,
        );
        const settled = async () => {
          const panels = await readPanels(page);
          return pools.every((pool) => {
            const m = pool.getMetrics();
            const { stats } = panels[pool.name];
            return stats.acquires === String(m.acquireCount) &&
              stats.healthFailed === String(m.healthChecksFailed) &&
              panels[pool.name].tops.health.healthPassed < panels[pool.name].baselines.health;
          });
        };
        await waitFor("the shown figures to match the pools", settled, STEP_TIMEOUT_MS);
        await drawn(page, names, early.primary.samples + 4);
        const later = await readPanels(page);

        await screenshot(page, "dashboard.png");
        await page.emulateMedia({ colorScheme: "dark" });
        await screenshot(page, "dashboard-dark.png");

        for (const pool of pools) {
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
          for (const key of ["intervalP50", "intervalP95", "intervalP99"]) {
            assert.ok(charts.acquire[key] >= 2, `${name}: per-poll ${key} drawn`);
          }
          // Waits under load take milliseconds, so the per-poll p99 rises above 0.
          assert.ok(tops.acquire.intervalP99 < baselines.acquire, `${name}: per-poll p99 drawn`);

          const m = pool.getMetrics();
          const { stats } = later[name];
          assert.equal(stats.max, String(m.maxOpenConnections), `${name} max`);
          assert.equal(stats.waits, String(m.waitCount), `${name} waits`);
          assert.ok(m.waitCount > 0, `${name}: the load made callers wait`);
        }
        assert.deepEqual([later.primary.stats.max, later.replica.stats.max], ["4", "2"]);

        assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
        assert.deepEqual(consoleErrors, [], "no CSP violations or failed loads");
        const origins = new Set(requested.map((url) => new URL(url).origin));
        assert.deepEqual([...origins], [served.origin], "every request went to the server");
        const polls = requested.filter((url) => new URL(url).pathname === "/metrics.json");
        assert.ok(polls.length >= later.primary.samples, `${polls.length} polls of /metrics.json`);
      });
    } finally {
      await loads?.catch(() => {});
      await Promise.all(pools.map((pool) => pool.close()));
    }
  });

  it(
    "charts a burst of slow acquisitions after a calm period in the per-poll p99, above the lifetime p99",
    {
      timeout: 60_000,
    },
    async () => {
      const pool = new ConnectionPool({
        driver: postgresDriver(server.url),
        name: "burst",
        maxOpenConns: 1,
      });
      try {
        // The first acquisition connects, which is slow: done before the page watches.
        (await pool.getConnection()).release();
        await withDashboard([pool], async ({ page, pageErrors }) => {
          await drawn(page, ["burst"], 3);
          // Calm: many hand-outs of the idle connection, which take well under a millisecond.
          for (let n = 0; n < CALM_ACQUIRES; n++) (await pool.getConnection()).release();
          await drawn(page, ["burst"], (await readPanels(page)).burst.samples + 3);
          // Burst: callers queue behind a held connection, each waiting for the ones before.
          const held = await pool.getConnection();
          const waiters = Array.from({ length: BURST_CALLERS }, async () => {
            const connection = await pool.getConnection();
            await sleep(BURST_HOLD_MS);
            connection.release();
          });
          await sleep(BURST_HOLD_MS);
          held.release();
          await Promise.all(waiters);
          const histogram = pool.getAcquireHistogram();
          const slow = histogram.count -
            histogram.buckets.find((bucket) => bucket.le === 100)!.count;
          assert.ok(slow >= BURST_CALLERS, `${slow} acquisitions took over 100 ms`);
          const lifetimeP99 = pool.getMetrics().acquireTimeP99;
          assert.ok(
            lifetimeP99 < 50,
            `the burst is under 1% of the pool's life: p99 ${lifetimeP99} ms`,
          );
          await drawn(page, ["burst"], (await readPanels(page)).burst.samples + 3);
          const after = await readPanels(page);
          await screenshot(page, "dashboard-burst.png");
          const { tops, baselines } = after.burst;
          assert.ok(
            tops.acquire.intervalP99 < tops.acquire.acquireTimeP99,
            `per-poll p99 drawn at y ${tops.acquire.intervalP99}, above lifetime p99 at y ${tops.acquire.acquireTimeP99}`,
          );
          assert.ok(
            tops.acquire.acquireTimeP99 <= baselines.acquire,
            "the lifetime p99 line is drawn",
          );
          // Waits that began in one poll and ended in a later one count where they ended.
          assert.ok(tops.acquire.waitAverage < baselines.acquire, "the burst's waits drawn");
          assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
        });
      } finally {
        await pool.close();
      }
    },
  );

  it("leaves a gap where a poll saw no acquisition, and marks a percentile past the last bound", {
    timeout: 60_000,
  }, async () => {
    // A scripted metrics.json: the real page cannot wait 5 s per acquisition
    // in a test, so its histogram moves as written here.
    const pool = new ConnectionPool({ driver: postgresDriver(server.url), name: "scripted" });
    const dashboard = metricsHandler(pool);
    let polls = 0;
    const handler = (request: Request): Response => {
      if (new URL(request.url).pathname !== "/metrics.json") return dashboard(request);
      polls++;
      // From the 4th poll on, 2 more acquisitions: one under 1 ms, one over 5 s.
      const fast = polls >= 4 ? 1 : 0, slow = polls >= 4 ? 1 : 0;
      const buckets = pool.getAcquireHistogram().buckets.map(({ le }) => ({
        le: le === Infinity ? null : le,
        count: fast + (le === Infinity ? slow : 0),
      }));
      const entry: PoolJson = {
        name: pool.name,
        metrics: pool.getMetrics(),
        acquireHistogram: { buckets, sum: 5_000.5 * slow, count: fast + slow },
      };
      return Response.json({ pools: [entry] });
    };
    const served = await serve(handler);
    try {
      const browser = await openPage(`${served.origin}/?interval=${POLL_MS}`);
      try {
        await drawn(browser.page, ["scripted"], 8);
        const { scripted } = await readPanels(browser.page);
        await screenshot(browser.page, "dashboard-open-bucket.png");
        // Only the 4th poll's interval held acquisitions: one point per percentile line.
        for (const key of ["intervalP50", "intervalP95", "intervalP99"]) {
          assert.equal(scripted.points.acquire[key], 1, `${key}: one point, the rest gaps`);
        }
        assert.equal(scripted.dots.acquire, 3, "each lone point drawn as a dot");
        // Of 2 acquisitions, the median is in the first bucket, p95 and p99 past 5 s.
        assert.deepEqual(scripted.open.acquire.sort(), [
          "intervalP95: ≥ 5 s",
          "intervalP99: ≥ 5 s",
        ]);
        assert.deepEqual(browser.pageErrors, [], "no uncaught errors in the page");
      } finally {
        await browser.close();
      }
    } finally {
      await served.close();
      await pool.close();
    }
  });

  it("shows disconnected while the server is unreachable, keeps its charts, and resumes", {
    timeout: 60_000,
  }, async () => {
    const pool = new ConnectionPool({ driver: postgresDriver(server.url), name: "orders" });
    try {
      await withDashboard([pool], async ({ page, pageErrors }, served) => {
        await drawn(page, ["orders"], 3);
        assert.equal((await readStatus(page)).state, "live");
        served.reachable = false;
        await waitFor(
          "disconnected",
          async () => (await readStatus(page)).state === "disconnected",
          STEP_TIMEOUT_MS,
        );
        const during = await readPanels(page);
        assert.match((await readStatus(page)).text, /^disconnected\b.*retrying/);
        await sleep(POLL_MS * 5);
        const still = await readPanels(page);
        assert.equal(still.orders.samples, during.orders.samples, "no sample while unreachable");
        assert.ok(still.orders.points.connections.inUse >= 3, "the charts stay drawn");
        served.reachable = true;
        await waitFor(
          "live again",
          async () => (await readStatus(page)).state === "live",
          STEP_TIMEOUT_MS,
        );
        await drawn(page, ["orders"], during.orders.samples + 2);
        assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
      });
    } finally {
      await pool.close();
    }
  });

  it("draws failed health checks as bars", {
    timeout: 60_000,
    skip: control.processUnavailable,
  }, async () => {
    const application = `x-pool-dashboard-${process.pid}`;
    const pool = new ConnectionPool({
      driver: postgresDriver(server.url, { connection: { application_name: application } }),
      name: "replica",
      maxOpenConns: 2,
      healthInterval: 300,
      // Well above a ping on a loaded machine, so only the stopped backends fail.
      checkTimeout: 500,
    });
    try {
      const held = [await pool.getConnection(), await pool.getConnection()];
      for (const connection of held) connection.release();
      await withDashboard([pool], async ({ page }) => {
        await drawn(page, ["replica"], 3);
        // A stopped backend never answers the ping, which times out: a failed check.
        const backends = await db.backends(application);
        assert.ok(backends.length >= 1, "an idle connection to stop");
        const failedBefore = pool.getMetrics().healthChecksFailed;
        for (const pid of backends) control.signal(pid, "SIGSTOP");
        await waitFor(
          "failed health checks",
          () => pool.getMetrics().healthChecksFailed - failedBefore >= backends.length,
          STEP_TIMEOUT_MS,
        );
        for (const pid of backends) control.signal(pid, "SIGCONT");
        const failed = String(pool.getMetrics().healthChecksFailed);
        await waitFor("the failures drawn", async () => {
          const { replica } = await readPanels(page);
          return replica.stats.healthFailed === failed && replica.bars.health > 0;
        }, STEP_TIMEOUT_MS);
        await drawn(page, ["replica"], (await readPanels(page)).replica.samples + 3);
        await screenshot(page, "dashboard-health.png");
        const { replica } = await readPanels(page);
        assert.equal(replica.stats.open, String(pool.getMetrics().openConnections));
        assert.ok(
          replica.bars.health >= 1 && replica.bars.health <= 2,
          `${replica.bars.health} bars`,
        );
      });
    } finally {
      await control.close();
      await pool.close();
    }
  });

  it(
    "shows a cluster member's role and standing beside its name",
    { timeout: 60_000 },
    async () => {
      // Both members reach the one test server, which is not in recovery: the
      // "replica" reads as promoted, so it leaves rotation.
      const member = (name: string) =>
        new ConnectionPool({ driver: postgresDriver(server.url), name, maxOpenConns: 2 });
      const cluster = new ClusterPool({
        primary: member("main"),
        replicas: [member("standby")],
        healthInterval: 100,
        onError: () => {},
      });
      try {
        await withDashboard([cluster], async ({ page }) => {
          await drawn(page, ["main", "standby"], 3);
          const standing = () =>
            evaluate(
              page,
              `Object.fromEntries([...document.querySelectorAll("section.pool")].map((s) => [s.dataset.pool, s.querySelector(".standing").textContent]))`,
            ) as Promise<Record<string, string>>;
          await waitFor("the standing shown", async () => {
            const shown = await standing();
            return shown.main === "primary" && shown.standby === "replica · out of rotation";
          }, STEP_TIMEOUT_MS);
          const healthy = cluster.members().map(({ name, healthy }) => [name, healthy]);
          assert.deepEqual(healthy, [["main", true], ["standby", false]]);
        });
      } finally {
        await cluster.close();
      }
    },
  );

  it("shows an open circuit breaker beside its pool's name, and nothing for a closed one", {
    timeout: 60_000,
  }, async () => {
    const up = new ConnectionPool({ driver: postgresDriver(server.url), name: "up" });
    const down = new ConnectionPool({
      driver: postgresDriver({ ...server.options, port: await freePort() }),
      name: "down",
      breakerThreshold: 1,
      onError: () => {},
    });
    try {
      await up.execute("select 1");
      await assert.rejects(down.getConnection(), { code: "CIRCUIT_OPEN" });
      await withDashboard([up, down], async ({ page }) => {
        await drawn(page, ["up", "down"], 2);
        const standing = () =>
          evaluate(
            page,
            `Object.fromEntries([...document.querySelectorAll("section.pool")].map((s) => { const n = s.querySelector(".standing"); return [s.dataset.pool, [n.textContent, n.dataset.healthy]]; }))`,
          ) as Promise<Record<string, [string, string]>>;
        await waitFor("the breaker shown", async () => {
          const shown = await standing();
          return shown.down?.[0].startsWith("circuit ") === true;
        }, STEP_TIMEOUT_MS);
        const shown = await standing();
        assert.match(shown.down[0], /^circuit (open|half-open, probing)$/);
        assert.equal(shown.down[1], "false");
        assert.deepEqual(shown.up, ["", "true"]);
      });
    } finally {
      await Promise.all([up.close(), down.close()]);
    }
  });
});
