/// <reference lib="dom" />
/**
 * The dashboard page's script: polls `metrics.json` next to the page's own
 * URL, keeps each pool's last polls, and shows them in a panel per pool.
 * `tools/build_dashboard.ts` bundles it into the page.
 *
 * @module
 */

import type { MetricsJson } from "../../handler.ts";
import { formatNumber } from "./format.ts";
import { INTERVAL } from "./interval.ts";
import { createPanel, type Panel, render, showStanding } from "./panel.ts";
import { HISTORY, record } from "./samples.ts";

/** Per pool name: its panel and samples. */
const pools = new Map<string, Panel>();
const main = document.querySelector("main")!;
const badge = document.querySelector<HTMLElement>(".status")!;
document.querySelector(".note")!.textContent = "the last " + HISTORY + " polls of metrics.json";

function show(state: string, text: string): void {
  badge.dataset.state = state;
  badge.textContent = text;
}

async function poll(): Promise<void> {
  try {
    const response = await fetch("metrics.json", {
      cache: "no-store",
      signal: AbortSignal.timeout(Math.max(INTERVAL, 5000)),
    });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const body: MetricsJson = await response.json();
    const now = Date.now();
    const names = new Set<string>();
    for (const entry of body.pools) {
      const { name } = entry;
      names.add(name);
      let pool = pools.get(name);
      if (!pool) {
        pool = createPanel(name);
        main.append(pool.section);
        pools.set(name, pool);
      }
      record(pool.samples, entry, now);
      render(pool, now);
      showStanding(pool.standing, entry);
    }
    for (const [name, pool] of pools) {
      if (!names.has(name)) {
        pool.section.remove();
        pools.delete(name);
      }
    }
    show("live", "live · every " + formatNumber(INTERVAL / 1000) + " s");
  } catch (error) {
    const reason = error instanceof Error && error.message ? error.message : error;
    show("disconnected", "disconnected (" + reason + "), retrying");
  }
  setTimeout(poll, INTERVAL);
}

poll();
