/**
 * B. End to end: `select 1` and `select $1::int` through each client with
 * 10 connections, at 1, 10 and 50 concurrent callers, plus one cell of
 * `select 1` with one statement in a hundred a `pg_sleep(0.05)` at 50
 * callers (a slow statement's effect on the others' p99), with pgbench
 * against the same server as the C reference.
 *
 * The method: users run one client per process, so each contender runs in a
 * fresh process of its own (the same runtime, `_select_child.ts`), never
 * beside another client whose JIT state, garbage and event-loop turns would
 * count against it. A process opens all its connections and warms up before
 * timing, then measures its whole row, every cell for the cell time
 * (`--cell-ms=N` or `BENCH_CELL_MS`; 3 s, in a smoke run 150 ms), and
 * reports each cell's throughput, latency and client CPU per statement as
 * JSON on stdout. This repeats for several rounds in alternating order
 * (contenders and cells as listed in odd rounds, reversed in even ones), and
 * each cell reports the median of its rounds and their range. Every process
 * runs under a time limit and is killed when it overruns.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { TestPostgres } from "../examples/_postgres/start.ts";
import {
  type Cell,
  CELLS,
  CONTENDERS,
  POOL_SIZE,
  type QueryKind,
  type SelectRun,
  SLOW_EVERY,
} from "./_contenders.ts";
import { findPgbench, PGBENCH, pgbench } from "./_pgbench.ts";
import { bun, smoke } from "./_runtime.ts";
import type { ChildJob } from "./_select_child.ts";
import { medianOf } from "./_stats.ts";

/** One cell of the end-to-end table: a client's runs, one per round, and their median. */
export interface SelectRow {
  client: string;
  query: QueryKind;
  callers: number;
  median: SelectRun;
  runs: SelectRun[];
}

const CHILD = fileURLToPath(new URL("./_select_child.ts", import.meta.url));

/** The time per cell in milliseconds: `--cell-ms=N`, `BENCH_CELL_MS`, or the default. */
export const cellMs: number = (() => {
  const given = process.argv.find((arg) => arg.startsWith("--cell-ms="))?.slice(10) ??
    process.env.BENCH_CELL_MS;
  if (given === undefined) return smoke ? 150 : 3_000;
  const ms = Number(given);
  if (!Number.isInteger(ms) || ms < 10) {
    throw new Error(`--cell-ms / BENCH_CELL_MS: expected whole milliseconds ≥ 10, got ${given}`);
  }
  return ms;
})();

const warmMs = smoke ? 50 : 500;

/** The longest one process may take before it is killed. */
function childLimitMs(cells: number): number {
  return 15_000 + 2 * warmMs + cells * (2 * cellMs + 2_000);
}

/** An upper bound on benchmark B's run time over `rounds`, every process at its limit. */
export function selectLimitMs(rounds: number): number {
  return rounds * (CONTENDERS.length + 1) * childLimitMs(CELLS.length);
}

/** Runs `cells` of one contender in a fresh process; kills it when it overruns. */
function runChild(job: ChildJob): Promise<SelectRun[]> {
  const args = bun ? [CHILD] : ["run", "-A", "--v8-flags=--expose-gc", CHILD];
  const limit = job.limitMs;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(job) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => out += chunk);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`B: the process of ${job.contender} overran ${limit} ms and was killed`));
    }, limit);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last.startsWith("[")) {
        reject(new Error(`B: the process of ${job.contender} exited with ${code}`));
        return;
      }
      // JSON has no NaN: a NaN the child measured arrives as null.
      resolve(JSON.parse(last, (_, value) => value === null ? NaN : value));
    });
  });
}

/** Runs benchmark B: every contender's row in its own process, `rounds` times. */
export async function benchSelect(server: TestPostgres, rounds: number) {
  const binary = findPgbench();
  const names = [
    ...CONTENDERS.filter((c) => c.open).map((c) => c.name),
    ...(binary ? [PGBENCH] : []),
  ];
  const rows: SelectRow[] = CELLS.flatMap((cell) =>
    names.map((client) => ({ client, ...cell, median: {} as SelectRun, runs: [] }))
  );
  const row = (client: string, cell: Cell) =>
    rows.find((r) => r.client === client && r.query === cell.query && r.callers === cell.callers)!;
  for (let round = 0; round < rounds; round++) {
    const forward = round % 2 === 0;
    const cells = forward ? [...CELLS] : [...CELLS].reverse();
    for (const name of forward ? names : [...names].reverse()) {
      const runs = name === PGBENCH
        ? cells.map((cell) => pgbench(binary!, server, cell, cellMs, smoke))
        : await runChild({
          contender: name,
          url: server.url,
          cells,
          cellMs,
          warmMs,
          limitMs: childLimitMs(cells.length),
        });
      cells.forEach((cell, i) => row(name, cell).runs.push(runs[i]));
    }
  }
  for (const r of rows) r.median = medianOf(r.runs);
  return {
    method: "process per contender" as const,
    rounds,
    poolSize: POOL_SIZE,
    cellMs,
    slowEvery: SLOW_EVERY,
    pgbench: binary ?? "not found",
    rows,
  };
}
