/**
 * What the renderer's parts share: the shape of a results file, the names
 * of our rows, and number and table formatting.
 *
 * @module
 */

import type { benchOverhead } from "./a_overhead.ts";
import type { QueryKind } from "./_contenders.ts";
import type { benchSelect } from "./b_select.ts";
import type { benchUtilization } from "./c_utilization.ts";
import type { benchHealth } from "./d_health.ts";
import type { benchMemory } from "./e_memory.ts";

type Select = Awaited<ReturnType<typeof benchSelect>>;
type Overhead = Awaited<ReturnType<typeof benchOverhead>>;

/**
 * What `main.ts` writes for one runtime. Results of the earlier method, all
 * of B's clients interleaved in one process, lack B's method, rounds and
 * slow cell, and CPU per query (it is derived from CPU % and throughput);
 * A's clock cost may be missing too.
 */
export interface Results {
  runtime: "deno" | "bun";
  smoke: boolean;
  date: string;
  machine: { cpu: string; cores: number; os: string; loadAverageAtStart: number[] };
  versions: Record<string, string>;
  repeats: number;
  durationSeconds: number;
  memory: Awaited<ReturnType<typeof benchMemory>>;
  overhead: Omit<Overhead, "clock"> & Partial<Pick<Overhead, "clock">>;
  select:
    & Omit<Select, "method" | "rounds" | "slowEvery">
    & Partial<Pick<Select, "method" | "rounds" | "slowEvery">>;
  utilization: Awaited<ReturnType<typeof benchUtilization>>;
  health: Awaited<ReturnType<typeof benchHealth>>;
}

/** One cell's measurements in B. */
export type SelectCell = Results["select"]["rows"][number]["median"];

export const RUNTIMES = ["deno", "bun"] as const;
export const TITLE = { deno: "Deno", bun: "Bun" } as const;
export const OURS_A = "@x/pool";
export const OURS_B = "@x/pool (prepare: true)";
export const OURS_UNNAMED = "@x/pool (prepare: false)";
export const FLOOR = "bare await (floor)";
/** @x/pool with pipelining off; results without this row predate @x/pool's pipelining. */
export const OURS_SERIAL = "@x/pool (maxPipeline: 0)";
export const POSTGRES_SERIAL = "postgres.js (max_pipeline: 0)";

/**
 * The rows of @x/pool on a real driver with default options, each with its
 * driver's name and the row of that driver's client alone. A row absent
 * from a results file (Bun.SQL under Deno, a driver added later) is skipped.
 */
export const OURS_DRIVERS = [
  { client: OURS_B, driver: "postgres.js driver", alone: "postgres.js" },
  { client: "@x/pool (Bun.SQL driver)", driver: "Bun.SQL driver", alone: "Bun.SQL" },
  { client: "@x/pool (pg driver)", driver: "pg driver", alone: "pg Pool" },
] as const;

/** Our best row of a cell: the highest throughput among {@linkcode OURS_DRIVERS}. */
export interface Best {
  row: Results["select"]["rows"][number];
  driver: string;
  alone: string;
}

/** {@linkcode Best} of one cell of B in `r`; undefined when none of our rows is there. */
export function bestOurs(r: Results, query: QueryKind, callers: number): Best | undefined {
  let best: Best | undefined;
  for (const { client, driver, alone } of OURS_DRIVERS) {
    const row = r.select.rows.find((row) =>
      row.client === client && row.query === query && row.callers === callers
    );
    if (row && (best === undefined || row.median.opsPerSec > best.row.median.opsPerSec)) {
      best = { row, driver, alone };
    }
  }
  return best;
}

/** Whether @x/pool pipelined in `r`: its results have the row without pipelining. */
export function pipelines(r: Results): boolean {
  return r.select.rows.some((row) => row.client === OURS_SERIAL);
}
export const QUERY_TEXT: Record<QueryKind, string> = {
  select1: "select 1",
  param: "select $1::int",
  slow: "select 1",
};

// ---- numbers

export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "–";
}

export function verdict(met: boolean | undefined): string {
  return met === undefined ? "n/a" : met ? "met" : "**not met**";
}

export function table(head: string[], rows: string[][], right: boolean[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rule = head.map((_, i) => (right[i] ? "---:" : "---"));
  return [line(head), line(rule), ...rows.map(line)].join("\n");
}

/**
 * Client CPU per statement, in microseconds: measured per run, or for
 * results of the earlier method, derived from CPU % of one core and throughput.
 */
export function cpuPerQuery(
  cell: { processCpu: number; opsPerSec: number; cpuUsPerQuery?: number },
): number {
  return cell.cpuUsPerQuery ?? (cell.processCpu / 100) * 1e6 / cell.opsPerSec;
}
