/**
 * Runs every benchmark under the current runtime, writes
 * `results/<runtime>_results.json`, and renders `RESULTS.md` and `chart.svg` from
 * every runtime's results found there.
 *
 *     deno task bench            # or: deno run -A --v8-flags=--expose-gc bench/main.ts
 *     bun run bench              # or: bun bench/main.ts
 *
 * `--smoke` (or `BENCH_SMOKE=1`) runs each benchmark for a moment, checks
 * nothing about speed, and writes to a temporary directory instead (or to
 * `BENCH_OUT`), so the committed results stay as they are. `--cell-ms=N` (or
 * `BENCH_CELL_MS`) sets the time of each cell of benchmark B.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { startPostgres } from "../examples/_postgres/start.ts";
import { machine, runtime, smoke, versions } from "./_runtime.ts";
import { benchOverhead } from "./a_overhead.ts";
import { findPgbench } from "./_pgbench.ts";
import { benchSelect, selectLimitMs } from "./b_select.ts";
import { benchUtilization } from "./c_utilization.ts";
import { benchHealth } from "./d_health.ts";
import { benchMemory } from "./e_memory.ts";
import { render } from "./render.ts";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const outDir = process.env.BENCH_OUT ?? (smoke ? join(tmpdir(), "x-pool-bench-smoke") : benchDir);
const repeats = smoke ? 1 : 3;
// B's rounds alternate their order, so even a smoke run has two.
const selectRounds = smoke ? 2 : repeats;

// B bounds each of its processes; the rest is the other benchmarks.
const WATCHDOG_MS = (smoke ? 3 : 10) * 60_000 + selectLimitMs(selectRounds);

// Every load stops by itself; this only catches a hang (a server that stops answering).
const watchdog = setTimeout(() => {
  console.error(`bench: gave up after ${Math.round(WATCHDOG_MS / 60_000)} minutes`);
  process.exit(2);
}, WATCHDOG_MS);

const started = performance.now();
const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  console.log(`bench ${runtime}: ${name}...`);
  const result = await run();
  console.log(
    `bench ${runtime}: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return result;
};

const server = await step("starting PostgreSQL", startPostgres);
let results: Record<string, unknown>;
try {
  const sql = postgres(server.url, { max: 1, onnotice: () => {} });
  const [{ server_version }] = await sql`show server_version`;
  await sql.end();
  const pgbench = findPgbench();
  results = {
    runtime,
    smoke,
    date: new Date().toISOString(),
    machine: { ...machine(), loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))) },
    versions: {
      ...versions(),
      postgresServer: String(server_version),
      pgbench: pgbench
        ? spawnSync(pgbench, ["--version"], { encoding: "utf8" }).stdout.trim()
        : "not found",
    },
    repeats,
    // Memory first, while the heap holds nothing but this benchmark.
    memory: await step("E. memory", benchMemory),
    overhead: await step("A. pool overhead", () => benchOverhead(server.url, repeats)),
    select: await step("B. end to end", () => benchSelect(server, selectRounds)),
    utilization: await step("C. utilization", () => benchUtilization(server, repeats)),
    health: await step("D. health checks", () => benchHealth(server, repeats)),
  };
} finally {
  await server.stop();
}
results.durationSeconds = Math.round((performance.now() - started) / 1000);

mkdirSync(join(outDir, "results"), { recursive: true });
const file = join(outDir, "results", `${runtime}_results.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
console.log(`bench ${runtime}: wrote ${file}`);
// The README's summary only from a real run written to the committed results.
render(outDir, smoke || outDir !== benchDir ? undefined : join(benchDir, "..", "README.md"));
console.log(
  `bench ${runtime}: wrote ${join(outDir, "RESULTS.md")} and ${join(outDir, "chart.svg")}`,
);
clearTimeout(watchdog);
// postgres.js and pg may leave a socket closing in the background; nothing is left to wait for.
process.exit(0);
