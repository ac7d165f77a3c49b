/**
 * B. End to end: `select 1` and `select $1::int` through each client with
 * 10 connections, at 1, 10 and 50 concurrent callers, with pgbench against
 * the same server as the C reference.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import pg from "pg";
import postgres from "postgres";
import { bunDriver } from "../src/drivers/bun/mod.ts";
import type { Driver } from "../src/driver.ts";
import { postgresDriver } from "../src/drivers/postgres/mod.ts";
import type { PoolOptions } from "../src/config.ts";
import { ConnectionPool } from "../src/pool.ts";
import type { TestPostgres } from "../examples/_postgres/start.ts";
import { load, type LoadResult } from "./_load.ts";
import { bun, cpuMeter, smoke } from "./_runtime.ts";
import { medianOf, quantile, sorted } from "./_stats.ts";

/** The two statements measured. */
export const QUERIES = { select1: "select 1", param: "select $1::int" } as const;
export type QueryKind = keyof typeof QUERIES;

/** A client that runs each statement; a distinct function per client and statement. */
export interface Client {
  name: string;
  run: Record<QueryKind, () => Promise<unknown>>;
  close(): Promise<void>;
}

/** One cell of the end-to-end table. */
export interface SelectRow {
  client: string;
  query: QueryKind;
  callers: number;
  median: LoadResult;
  runs: LoadResult[];
}

const POOL_SIZE = 10;
export const CALLERS = [1, 10, 50] as const;
export const PGBENCH = "pgbench (C, libpq)";

/** @x/pool on the postgres.js driver, or on `driver`; `prepare` as the driver's option. */
export function xPool(
  url: string,
  prepare: boolean,
  name: string,
  options: Omit<PoolOptions, "driver"> = {},
  driver: Driver = postgresDriver(url, { prepare }),
): Client & { pool: ConnectionPool } {
  const pool = new ConnectionPool({ driver, maxOpenConns: POOL_SIZE, ...options });
  return {
    name,
    pool,
    run: {
      select1: () => pool.execute("select 1"),
      param: () => pool.execute("select $1::int", [1]),
    },
    close: () => pool.close(),
  };
}

/** Every client compared (pgbench aside). */
export function clients(url: string): Client[] {
  const list: Client[] = [
    xPool(url, true, "@x/pool (prepare: true)"),
    xPool(url, false, "@x/pool (prepare: false)"),
  ];

  const sql = postgres(url, { max: POOL_SIZE, onnotice: () => {} });
  list.push({
    name: "postgres.js",
    run: { select1: () => sql`select 1`, param: () => sql`select ${1}::int` },
    close: () => sql.end({ timeout: 5 }),
  });

  // The same, one statement per connection at a time, as in a pool: isolates pipelining.
  // (max_pipeline: 1 still allows two, one running and one sent.)
  // `max_pipeline` is read by postgres.js but missing from its types.
  const serial = postgres(url, {
    max: POOL_SIZE,
    max_pipeline: 0,
    onnotice: () => {},
  } as postgres.Options<Record<string, never>>);
  list.push({
    name: "postgres.js (max_pipeline: 0)",
    run: { select1: () => serial`select 1`, param: () => serial`select ${1}::int` },
    close: () => serial.end({ timeout: 5 }),
  });

  const pgPool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  list.push({
    name: "pg Pool",
    run: {
      select1: () => pgPool.query("select 1"),
      param: () => pgPool.query("select $1::int", [1]),
    },
    close: () => pgPool.end(),
  });

  if (bun) {
    list.push(xPool(url, true, "@x/pool (Bun.SQL driver)", {}, bunDriver(url)));
    const bunSql = new bun.SQL(url, { max: POOL_SIZE });
    list.push({
      name: "Bun.SQL",
      run: { select1: () => bunSql`select 1`, param: () => bunSql`select ${1}::int` },
      close: () => bunSql.close(),
    });
  }
  return list;
}

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
 * Runs pgbench with `clients` connections for `seconds`, prepared statements,
 * and reads every transaction's latency from its log.
 */
export function pgbench(
  binary: string,
  server: TestPostgres,
  query: QueryKind,
  clients: number,
  seconds: number,
): LoadResult {
  const dir = mkdtempSync(join(tmpdir(), "x-pool-pgbench-"));
  try {
    const script = join(dir, "script.sql");
    writeFileSync(script, query === "select1" ? "select 1;\n" : "\\set n 1\nselect :n::int;\n");
    const { host, port, username, database, password } = server.options;
    const limit = smoke ? ["-t", "200"] : ["-T", String(seconds)];
    const meter = cpuMeter();
    const result = spawnSync(binary, [
      "-n",
      "-M",
      "prepared",
      "-f",
      script,
      "-c",
      String(clients),
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
    return {
      opsPerSec: Number(tps[1]),
      p50Us: quantile(ascending, 0.5),
      p99Us: quantile(ascending, 0.99),
      processCpu: NaN, // pgbench is another process; the machine figure covers it.
      machineCpu: cpu.machinePercent,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs benchmark B: every client and pgbench at every cell, `repeats`
 * times, the clients' order rotated each repeat.
 */
export async function benchSelect(server: TestPostgres, repeats: number) {
  const cellMs = smoke ? 150 : 750;
  const list = clients(server.url);
  const binary = findPgbench();
  const names = [...list.map((c) => c.name), ...(binary ? [PGBENCH] : [])];
  const rows: SelectRow[] = [];
  const cell = (client: string, query: QueryKind, callers: number) => {
    let row = rows.find((r) => r.client === client && r.query === query && r.callers === callers);
    if (!row) rows.push(row = { client, query, callers, median: {} as LoadResult, runs: [] });
    return row;
  };
  try {
    // Opens every client's 10 connections and warms the JIT; not measured.
    for (const client of list) {
      for (const query of Object.keys(QUERIES) as QueryKind[]) {
        await load(client.run[query], 50, smoke ? 50 : 500);
      }
    }
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const query of Object.keys(QUERIES) as QueryKind[]) {
        for (const callers of CALLERS) {
          for (let k = 0; k < names.length; k++) {
            const name = names[(k + repeat) % names.length];
            const result = name === PGBENCH
              // pgbench has no pool: one connection per client, at most the pool's 10.
              ? pgbench(binary!, server, query, Math.min(callers, POOL_SIZE), 1)
              : await load(list.find((c) => c.name === name)!.run[query], callers, cellMs);
            cell(name, query, callers).runs.push(result);
          }
        }
      }
    }
  } finally {
    for (const client of list) await client.close();
  }
  for (const row of rows) row.median = medianOf(row.runs);
  return { poolSize: POOL_SIZE, cellMs, pgbench: binary ?? "not found", rows };
}
