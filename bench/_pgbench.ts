/**
 * pgbench, the C reference of benchmark B: one cell per pgbench run, its
 * latencies read from the per-transaction log.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TestPostgres } from "../examples/_postgres/start.ts";
import { type Cell, POOL_SIZE, type QueryKind, type SelectRun, SLOW_EVERY } from "./_contenders.ts";
import { cpuMeter } from "./_runtime.ts";
import { quantile, sorted } from "./_stats.ts";

/** Its name in the results. */
export const PGBENCH = "pgbench (C, libpq)";

/** A pgbench latency at or above this is a `pg_sleep(0.05)`, in microseconds. */
const SLEPT_US = 50_000;

/** Each cell's script; pgbench draws the slow statements at random, one in SLOW_EVERY. */
const SCRIPTS: Record<QueryKind, string> = {
  select1: "select 1;\n",
  param: "\\set n 1\nselect :n::int;\n",
  slow: `\\set r random(1, ${SLOW_EVERY})\n\\if :r = 1\nselect pg_sleep(0.05);\n\\else\n` +
    "select 1;\n\\endif\n",
};

/** The pgbench binary of the installed PostgreSQL client, if any. */
export function findPgbench(): string | undefined {
  const config = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const candidates = [
    config.status === 0 ? join(config.stdout.trim(), "pgbench") : "",
    "/usr/bin/pgbench",
  ];
  return candidates.find((path) => path && existsSync(path));
}

/**
 * Runs one cell with pgbench, prepared statements, one connection per
 * caller and at most the pools' size (pgbench has no pool), for `ms`
 * rounded to whole seconds, or for 200 transactions a connection in a smoke run.
 */
export function pgbench(
  binary: string,
  server: TestPostgres,
  cell: Cell,
  ms: number,
  smoke: boolean,
): SelectRun {
  const dir = mkdtempSync(join(tmpdir(), "x-pool-pgbench-"));
  try {
    const script = join(dir, "script.sql");
    writeFileSync(script, SCRIPTS[cell.query]);
    const { host, port, username, database, password } = server.options;
    const seconds = Math.max(1, Math.round(ms / 1000));
    const limit = smoke ? ["-t", "200"] : ["-T", String(seconds)];
    const meter = cpuMeter();
    const result = spawnSync(binary, [
      "-n",
      "-M",
      "prepared",
      "-f",
      script,
      "-c",
      String(Math.min(cell.callers, POOL_SIZE)),
      "-j",
      "1",
      ...limit,
      "-l",
      `--log-prefix=${join(dir, "log")}`,
      "-h",
      host,
      "-p",
      String(port),
      "-U",
      username,
      database,
    ], {
      encoding: "utf8",
      env: { ...process.env, PGPASSWORD: password },
      timeout: (seconds + 30) * 1000,
      killSignal: "SIGKILL",
    });
    const cpu = meter();
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(result.stdout ?? "");
    if (result.status !== 0 || !tps) {
      throw new Error(`pgbench failed (${result.status}): ${result.stderr || result.stdout}`);
    }
    // Each log line: client_id transaction_no latency_us script_no epoch epoch_us.
    const latencies: number[] = [];
    for (const file of readdirSync(dir).filter((name) => name.startsWith("log"))) {
      for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
        const fields = line.split(" ");
        if (fields.length >= 3) latencies.push(Number(fields[2]));
      }
    }
    const ascending = sorted(latencies);
    const run: SelectRun = {
      opsPerSec: Number(tps[1]),
      p50Us: quantile(ascending, 0.5),
      p99Us: quantile(ascending, 0.99),
      // pgbench is another process; the machine figure covers it.
      processCpu: NaN,
      cpuUsPerQuery: NaN,
      machineCpu: cpu.machinePercent,
    };
    if (cell.query === "slow") {
      // pgbench's log does not say which branch ran; no `select 1` takes 50 ms without pipelining.
      const fast = sorted(latencies.filter((us) => us < SLEPT_US));
      run.fastP50Us = quantile(fast, 0.5);
      run.fastP99Us = quantile(fast, 0.99);
    }
    return run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
