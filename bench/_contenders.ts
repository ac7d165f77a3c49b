/**
 * What benchmark B measures: its cells, and the clients it compares, each
 * opened by name in a process of its own (see `b_select.ts`). A new
 * contender is one line in {@linkcode CONTENDERS}.
 *
 * @module
 */

import pg from "pg";
import postgres from "postgres";
import { bunDriver } from "../src/drivers/bun/mod.ts";
import type { Driver } from "../src/driver.ts";
import { pgDriver } from "../src/drivers/pg/mod.ts";
import { postgresDriver } from "../src/drivers/postgres/mod.ts";
import type { PoolOptions } from "../src/config.ts";
import { ConnectionPool } from "../src/pool.ts";
import type { LoadResult } from "./_load.ts";
import { bun } from "./_runtime.ts";

/** Connections per client. */
export const POOL_SIZE = 10;

/**
 * The statements a client runs: `select 1`, `select $1::int` with 1, and
 * `select pg_sleep(0.05)`, the slow one of the mixed cell.
 */
export type Statement = "select1" | "param" | "sleep";

/**
 * What a cell runs: `select 1`, `select $1::int`, or `slow`, `select 1` with
 * every {@linkcode SLOW_EVERY}th statement a `select pg_sleep(0.05)` instead.
 */
export type QueryKind = "select1" | "param" | "slow";

/** One in this many statements of the `slow` cell sleeps. */
export const SLOW_EVERY = 100;

/** One cell of the table: a query at a number of concurrent callers. */
export interface Cell {
  query: QueryKind;
  callers: number;
}

/** Every cell, in the order a process runs them in odd rounds. */
export const CELLS: readonly Cell[] = [
  ...(["select1", "param"] as const).flatMap((query) =>
    [1, 10, 50].map((callers) => ({ query, callers }))
  ),
  { query: "slow", callers: 50 },
];

/** One measurement of one cell. */
export type SelectRun = LoadResult & {
  /** Client CPU time per completed statement, in microseconds (NaN for pgbench). */
  cpuUsPerQuery: number;
  /** In the `slow` cell only: the p99 of the `select 1` statements alone, in microseconds. */
  fastP99Us?: number;
  /** In the `slow` cell only: the p50 of the `select 1` statements alone, in microseconds. */
  fastP50Us?: number;
};

/** A client that runs each statement; a distinct function per client and statement. */
export interface Client {
  run: Record<Statement, () => Promise<unknown>>;
  close(): Promise<void>;
}

/** A contender: its name in the results, and how to open it against `url`. */
export interface Contender {
  name: string;
  /** Absent when the runtime lacks what the client needs (Bun.SQL outside Bun). */
  open?: (url: string) => Client;
}

/** @x/pool on the postgres.js driver, or on `driver`; `prepare` as the driver's option. */
export function xPool(
  url: string,
  prepare: boolean,
  options: Omit<PoolOptions, "driver"> = {},
  driver: Driver = postgresDriver(url, { prepare }),
): Client & { pool: ConnectionPool } {
  const pool = new ConnectionPool({ driver, maxOpenConns: POOL_SIZE, ...options });
  return {
    pool,
    run: {
      select1: () => pool.execute("select 1"),
      param: () => pool.execute("select $1::int", [1]),
      sleep: () => pool.execute("select pg_sleep(0.05)"),
    },
    close: () => pool.close(),
  };
}

/** postgres.js with `options` (`max_pipeline` is read by postgres.js but missing from its types). */
function postgresJs(url: string, options: Record<string, unknown> = {}): Client {
  const sql = postgres(url, { max: POOL_SIZE, onnotice: () => {}, ...options });
  return {
    run: {
      select1: () => sql`select 1`,
      param: () => sql`select ${1}::int`,
      sleep: () => sql`select pg_sleep(0.05)`,
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

function pgPool(url: string): Client {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  return {
    run: {
      select1: () => pool.query("select 1"),
      param: () => pool.query("select $1::int", [1]),
      sleep: () => pool.query("select pg_sleep(0.05)"),
    },
    close: () => pool.end(),
  };
}

function bunSql(url: string): Client {
  const sql = new bun!.SQL(url, { max: POOL_SIZE });
  return {
    run: {
      select1: () => sql`select 1`,
      param: () => sql`select ${1}::int`,
      sleep: () => sql`select pg_sleep(0.05)`,
    },
    close: () => sql.close(),
  };
}

/** `open` under Bun, undefined elsewhere. */
const underBun = (open: (url: string) => Client) => bun ? open : undefined;

/** Every client compared, in their order in the tables (pgbench aside). */
export const CONTENDERS: readonly Contender[] = [
  { name: "@x/pool (prepare: true)", open: (url) => xPool(url, true) },
  { name: "@x/pool (prepare: false)", open: (url) => xPool(url, false) },
  // Each statement on a connection of its own: isolates what pipelining brings.
  { name: "@x/pool (maxPipeline: 0)", open: (url) => xPool(url, true, { maxPipeline: 0 }) },
  { name: "@x/pool (pg driver)", open: (url) => xPool(url, true, {}, pgDriver(url)) },
  { name: "postgres.js", open: (url) => postgresJs(url) },
  // One statement per connection at a time, as in a pool: isolates pipelining.
  // (max_pipeline: 1 still allows two, one running and one sent.)
  { name: "postgres.js (max_pipeline: 0)", open: (url) => postgresJs(url, { max_pipeline: 0 }) },
  { name: "pg Pool", open: (url) => pgPool(url) },
  {
    name: "@x/pool (Bun.SQL driver)",
    open: underBun((url) => xPool(url, true, {}, bunDriver(url))),
  },
  { name: "Bun.SQL", open: underBun(bunSql) },
];
