/**
 * Renders `RESULTS.md` and `chart.svg` from `results/<runtime>_results.json`, every
 * number taken from those files. Run by `main.ts` after each runtime's run,
 * or alone: `deno run -A bench/render.ts` / `bun bench/render.ts`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { benchOverhead } from "./a_overhead.ts";
import type { benchSelect, QueryKind } from "./b_select.ts";
import type { benchUtilization } from "./c_utilization.ts";
import type { benchHealth } from "./d_health.ts";
import type { benchMemory } from "./e_memory.ts";

/** What `main.ts` writes for one runtime. */
export interface Results {
  runtime: "deno" | "bun";
  smoke: boolean;
  date: string;
  machine: { cpu: string; cores: number; os: string; loadAverageAtStart: number[] };
  versions: Record<string, string>;
  repeats: number;
  durationSeconds: number;
  memory: Awaited<ReturnType<typeof benchMemory>>;
  overhead: Awaited<ReturnType<typeof benchOverhead>>;
  select: Awaited<ReturnType<typeof benchSelect>>;
  utilization: Awaited<ReturnType<typeof benchUtilization>>;
  health: Awaited<ReturnType<typeof benchHealth>>;
}

const RUNTIMES = ["deno", "bun"] as const;
const TITLE = { deno: "Deno", bun: "Bun" } as const;
const OURS_A = "@x/pool";
const OURS_B = "@x/pool (prepare: true)";
const FLOOR = "bare await (floor)";
const QUERY_TEXT: Record<QueryKind, string> = { select1: "select 1", param: "select $1::int" };

/** Reads every runtime's results in `dir` and writes RESULTS.md and chart.svg there. */
export function render(dir: string): void {
  const all = RUNTIMES.map((name) => join(dir, "results", `${name}_results.json`))
    .filter((file) => existsSync(file))
    .map((file) => JSON.parse(readFileSync(file, "utf8")) as Results);
  const markdown = join(dir, "RESULTS.md");
  writeFileSync(markdown, renderMarkdown(all));
  writeFileSync(join(dir, "chart.svg"), renderChart(all));
  formatWithDeno([
    markdown,
    join(dir, "chart.svg"),
    ...all.map((r) => join(dir, "results", `${r.runtime}_results.json`)),
  ]);
}

/** Formats the files as `deno fmt` would, so `deno fmt --check` passes on them. */
function formatWithDeno(files: string[]): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const deno = join(root, "node_modules", ".bin", "deno");
  if (!existsSync(deno)) return;
  spawnSync(deno, ["fmt", "--quiet", "--config", join(root, "deno.json"), ...files], {
    stdio: "inherit",
  });
}

// ---- numbers

function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "–";
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "n/a" : met ? "met" : "**not met**";
}

function table(head: string[], rows: string[][], right: boolean[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rule = head.map((_, i) => (right[i] ? "---:" : "---"));
  return [line(head), line(rule), ...rows.map(line)].join("\n");
}

// ---- the targets

interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

function checks(r: Results): Check[] {
  const out: Check[] = [];
  const a = (lender: string, callers: number) =>
    r.overhead.rows.find((row) => row.lender === lender && row.callers === callers);
  for (const callers of [1, 50]) {
    const ours = a(OURS_A, callers)!.median;
    const floor = a(FLOOR, callers)!.median;
    const limit = callers === 1 ? 250 : 500;
    out.push({
      target: `A: mean ≤ ${limit} ns/op, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: `${num(ours.meanNs)} ns (floor + ${num(ours.meanNs - floor.meanNs)})`,
      met: ours.meanNs <= limit,
    });
    const peers = r.overhead.rows.filter((row) =>
      row.callers === callers && row.lender !== OURS_A && row.lender !== FLOOR
    );
    const fastest = peers.reduce((best, row) =>
      row.median.meanNs < best.median.meanNs ? row : best
    );
    out.push({
      target: `A: ≥ 3× faster than the fastest peer, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: `${ratio(fastest.median.meanNs / ours.meanNs)} (${fastest.lender})`,
      met: fastest.median.meanNs / ours.meanNs >= 3,
    });
    out.push({
      target: `A: p99 ≤ 2 µs, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: callers === 1
        ? `${num(ours.p99Ns)} ns per batch, ${num(ours.singleP99Ns)} ns single op`
        : `${num(ours.p99Ns)} ns per round`,
      met: ours.p99Ns <= 2_000 && (callers > 1 || ours.singleP99Ns <= 2_000),
    });
  }
  const jain = a(OURS_A, 50)!.median.jain;
  out.push({
    target: "A: Jain index ≥ 0.99, 50 callers",
    measured: num(jain, 4),
    met: jain >= 0.99,
  });

  const b = (client: string, query: QueryKind, callers: number) =>
    r.select.rows.find((row) =>
      row.client === client && row.query === query && row.callers === callers
    )
      ?.median;
  for (const query of ["select1", "param"] as QueryKind[]) {
    for (const callers of [1, 10, 50]) {
      const ours = b(OURS_B, query, callers)!;
      const raw = b("postgres.js", query, callers)!;
      const pgPool = b("pg Pool", query, callers)!;
      const where = `\`${QUERY_TEXT[query]}\`, ${callers} caller${callers > 1 ? "s" : ""}`;
      out.push({
        target: `B: ≥ 100% of postgres.js throughput, ${where}`,
        measured: `${num((ours.opsPerSec / raw.opsPerSec) * 100)}%`,
        met: ours.opsPerSec >= raw.opsPerSec,
      });
      out.push({
        target: `B: ahead of pg Pool, ${where}`,
        measured: `${num((ours.opsPerSec / pgPool.opsPerSec) * 100)}%`,
        met: ours.opsPerSec > pgPool.opsPerSec,
      });
      out.push({
        target: `B: p99 ≤ postgres.js p99, ${where}`,
        measured: `${num(ours.p99Us)} µs vs ${num(raw.p99Us)} µs`,
        met: ours.p99Us <= raw.p99Us,
      });
    }
  }
  const c = r.utilization.median.utilization;
  out.push({
    target: "C: utilization ≥ 99% at saturation",
    measured: `${num(c, 2)}%`,
    met: c >= 99,
  });
  const d = r.health.on.median.checkShare;
  out.push({
    target: "D: health-check time < 0.1% of open-connection time",
    measured: `${num(d, 4)}%`,
    met: d < 0.1,
  });
  const e = r.memory.heapGrowth;
  out.push({
    target: `E: heap growth < 1 MB over ${num(r.memory.cycles)} cycles`,
    measured: `${num(e)} bytes`,
    met: e < 1_000_000,
  });
  return out;
}

// ---- the markdown

function renderMarkdown(all: Results[]): string {
  const out: string[] = [];
  const by = (name: string) => all.find((r) => r.runtime === name);
  const present = RUNTIMES.filter(by);
  out.push("# Benchmark results");
  out.push(
    "Generated by `bench/render.ts` from `bench/results/*.json`: do not edit by hand. " +
      "Regenerate with `deno task bench` and `bun run bench` (about 2.5 minutes each). " +
      "Every cell is the median of the repeated runs; contenders run interleaved, their order " +
      "rotated each repeat. PostgreSQL runs on the same machine, so client and server share its cores.",
  );
  if (all.some((r) => r.smoke)) out.push("**Smoke run: these numbers mean nothing.**");

  out.push("## Machine and versions");
  const keys = [...new Set(all.flatMap((r) => Object.keys(r.versions)))];
  out.push(table(
    ["", ...present.map((n) => TITLE[n])],
    [
      ["date", ...all.map((r) => r.date.slice(0, 16).replace("T", " ") + " UTC")],
      ["CPU", ...all.map((r) => r.machine.cpu)],
      ["cores", ...all.map((r) => String(r.machine.cores))],
      ["load average at start", ...all.map((r) => r.machine.loadAverageAtStart.join(", "))],
      ["repeats per cell", ...all.map((r) => String(r.repeats))],
      ["run time", ...all.map((r) => `${r.durationSeconds} s`)],
      ...keys.map((key) => [key, ...all.map((r) => r.versions[key] ?? "")]),
    ],
    [false, ...present.map(() => false)],
  ));

  out.push("## Targets");
  const perRuntime = all.map(checks);
  out.push(table(
    ["target", ...present.flatMap((n) => [TITLE[n], ""])],
    perRuntime[0].map((check, i) => [
      check.target,
      ...perRuntime.flatMap((list) => [list[i].measured, verdict(list[i].met)]),
    ]),
    [false, ...present.flatMap(() => [true, false])],
  ));

  out.push("## A. Pool overhead: getConnection() + release() of an idle connection");
  out.push(
    "Pool of 10. Dummy-resource pools (@x/pool on the fake driver, generic-pool, tarn) against " +
      "pools of real, already open PostgreSQL connections. 1 caller: mitata's mean, p50 and p99 " +
      "(each sample averages a batch of 4,096 operations), and the p99 of 50,000 operations " +
      "timed one by one (two clock reads included). 50 callers on 10 connections: every " +
      "release hands the connection to a waiter; one sample is a round of 5,000 operations " +
      "shared by the callers, and Jain's index is over the operations each caller completed in " +
      "a round. “Above floor” is the mean less the bare `await`'s, the same harness with no " +
      "pool. “× @x/pool” is the peer's mean over ours: above 1, we are faster.",
  );
  for (const r of all) {
    out.push(`### ${TITLE[r.runtime]}`);
    for (const callers of [1, 50]) {
      const rows = r.overhead.rows.filter((row) => row.callers === callers);
      const ours = rows.find((row) => row.lender === OURS_A)!.median.meanNs;
      const floor = rows.find((row) => row.lender === FLOOR)!.median.meanNs;
      out.push(table(
        callers === 1
          ? [
            "1 caller",
            "mean ns",
            "above floor",
            "p50 ns",
            "p99 ns",
            "single-op p99 ns",
            "× @x/pool",
          ]
          : ["50 callers", "mean ns", "above floor", "p50 ns", "p99 ns", "Jain", "× @x/pool"],
        rows.map((row) => [
          row.lender + (row.real ? " (real)" : ""),
          num(row.median.meanNs),
          num(row.median.meanNs - floor),
          num(row.median.p50Ns),
          num(row.median.p99Ns),
          callers === 1 ? num(row.median.singleP99Ns) : num(row.median.jain, 4),
          row.lender === OURS_A ? "1.00×" : ratio(row.median.meanNs / ours),
        ]),
        [false, true, true, true, true, true, true],
      ));
    }
  }

  out.push("## B. End to end: throughput and latency");
  out.push(
    "10 connections per client, closed loop, each caller running one statement after another " +
      "for the cell's time; latency from call to result. @x/pool runs on its postgres.js " +
      "driver, once with named prepared statements (`prepare: true`, as postgres.js and Bun.SQL " +
      "do by default, and pgbench `-M prepared`) and once with its default unnamed statements; " +
      "pg runs unnamed statements, its default. postgres.js pipelines statements onto busy " +
      "connections (`max_pipeline`, 100 by default, sent behind the running one); the " +
      "`max_pipeline: 0` row turns that off, so each connection runs one statement at a time, " +
      "as in a pool. pgbench uses one connection per client, at most 10; its latencies come " +
      "from its per-transaction log (`-l`), whose clock it reads lazily, so they are coarse " +
      "below 100 µs. “@x/pool ÷” is the " +
      "throughput of @x/pool (prepare: true) over the row's: above 1, we are faster. CPU: this " +
      "process in percent of one core; the machine (client, server and anything else) in " +
      "percent of all cores.",
  );
  for (const r of all) {
    for (const query of ["select1", "param"] as QueryKind[]) {
      out.push(`### ${TITLE[r.runtime]}: \`${QUERY_TEXT[query]}\``);
      const rows = r.select.rows.filter((row) => row.query === query);
      out.push(table(
        [
          "callers",
          "client",
          "ops/s",
          "p50 µs",
          "p99 µs",
          "@x/pool ÷",
          "CPU process %",
          "CPU machine %",
        ],
        rows.map((row) => {
          const ours = rows.find((o) => o.client === OURS_B && o.callers === row.callers)!;
          return [
            String(row.callers),
            row.client,
            num(row.median.opsPerSec),
            num(row.median.p50Us),
            num(row.median.p99Us),
            ratio(ours.median.opsPerSec / row.median.opsPerSec),
            num(row.median.processCpu),
            num(row.median.machineCpu),
          ];
        }),
        [true, false, true, true, true, true, true, true],
      ));
    }
  }

  out.push("## C. Utilization at saturation");
  out.push(
    "50 callers on 10 connections running `select 1` through @x/pool (prepare: true), on a " +
      "fresh pool each run. `getUtilization()` is read at the end of the load; the sampled " +
      "figure is the mean of `inUse / openConnections` from `getMetrics()` every 10 ms.",
  );
  out.push(table(
    ["", ...present.map((n) => TITLE[n])],
    [
      ["load per run", ...all.map((r) => `${num(r.utilization.loadMs)} ms`)],
      ["getUtilization() %", ...all.map((r) => num(r.utilization.median.utilization, 2))],
      ["sampled inUse / open %", ...all.map((r) => num(r.utilization.median.sampledInUse, 2))],
      [
        "samples with callers waiting %",
        ...all.map((r) => num(r.utilization.median.sampledWaiting, 1)),
      ],
      ["acquisitions that waited %", ...all.map((r) => num(r.utilization.median.waitedShare, 1))],
      ["ops/s", ...all.map((r) => num(r.utilization.median.opsPerSec))],
    ],
    [false, ...present.map(() => true)],
  ));

  out.push("## D. Health-check overhead");
  out.push(
    "`select 1` from 1 caller on a pool of 10 open connections, `healthInterval` 1000 ms against " +
      "health checks off: nine connections stay idle and are pinged every second. (Under " +
      "saturation every connection is used within each interval, so none is pinged.) Check " +
      "share: `healthCheckDuration` over open-connection time (open connections × load time).",
  );
  out.push(table(
    ["", ...present.map((n) => TITLE[n])],
    [
      ["load per run", ...all.map((r) => `${num(r.health.loadMs)} ms`)],
      ["ops/s, checks on", ...all.map((r) => num(r.health.on.median.opsPerSec))],
      ["ops/s, checks off", ...all.map((r) => num(r.health.off.median.opsPerSec))],
      ["throughput on ÷ off", ...all.map((r) => ratio(r.health.throughputRatio))],
      [
        "p99 µs, on / off",
        ...all.map((r) => `${num(r.health.on.median.p99Us)} / ${num(r.health.off.median.p99Us)}`),
      ],
      ["pings per run", ...all.map((r) => num(r.health.on.median.checks))],
      ["ping time per run, ms", ...all.map((r) => num(r.health.on.median.checkMs, 2))],
      [
        "check share of open-connection time %",
        ...all.map((r) => num(r.health.on.median.checkShare, 4)),
      ],
    ],
    [false, ...present.map(() => true)],
  ));

  out.push("## E. Memory");
  out.push(
    "Fake driver, 1 caller. Heap after a forced GC, before and after the cycles (JIT warmed up " +
      "first). Bytes per cycle: heap growth over 1,000 cycles between forced GCs (median of 15), " +
      "beside the same for a bare `async` call with one `await`; JavaScriptCore updates its heap " +
      "size only when it collects, so Bun cannot show it. Bookkeeping: the heap of a pool with " +
      "1,000 idle connections, less an empty pool, less 1,000 fake connections held alone.",
  );
  out.push(table(
    ["", ...present.map((n) => TITLE[n])],
    [
      ["acquire/release cycles", ...all.map((r) => num(r.memory.cycles))],
      ["heap before, bytes", ...all.map((r) => num(r.memory.heapBefore))],
      ["heap after, bytes", ...all.map((r) => num(r.memory.heapAfter))],
      ["growth, bytes", ...all.map((r) => num(r.memory.heapGrowth))],
      ["allocated per cycle, bytes", ...all.map((r) => num(r.memory.bytesPerCycle))],
      ["allocated per bare async call, bytes", ...all.map((r) => num(r.memory.floorBytesPerCall))],
      ["fake connection, bytes", ...all.map((r) => num(r.memory.fakeConnectionBytes))],
      [
        "pool bookkeeping per idle connection, bytes",
        ...all.map((r) => num(r.memory.bytesPerIdleConnection)),
      ],
    ],
    [false, ...present.map(() => true)],
  ));
  return out.join("\n\n") + "\n";
}

// ---- the chart

interface Bar {
  label: string;
  value: number;
  ours: boolean;
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
    ...groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite),
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
      parts.push(
        `<text x="${x + labelWidth - 6}" y="${top + 10}" ${FONT} text-anchor="end">${
          escape(bar.label)
        }</text>`,
        `<rect x="${x + labelWidth}" y="${top}" width="${length.toFixed(1)}" height="${
          barHeight - 2
        }" fill="${fill}"/>`,
        `<text x="${x + labelWidth + length + 4}" y="${top + 10}" ${FONT}>${
          num(bar.value)
        } ${unit}</text>`,
      );
      top += barHeight;
    }
    top += 6;
  }
  return { svg: parts.join("\n"), height: top - y };
}

function renderChart(all: Results[]): string {
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

if (import.meta.main) render(fileURLToPath(new URL(".", import.meta.url)));
