/**
 * A. Pool overhead: `getConnection()` + `release()` of an idle connection,
 * for 1 caller and for 50 callers on 10 connections (every release hands
 * the connection to a waiter), beside other pools and a bare `await`.
 *
 * @module
 */

import genericPool from "generic-pool";
import pg from "pg";
import postgres from "postgres";
import { Pool as TarnPool } from "tarn";
import { measure } from "mitata";
import { type Clock, systemClock } from "../src/clock.ts";
import { ConnectionPool } from "../src/pool.ts";
import { FakeDriver } from "../tests/support/fake_driver.ts";
import { bun, gc, now, smoke } from "./_runtime.ts";
import { jain, median, medianOf, quantile, sorted } from "./_stats.ts";

/** One way to borrow and return a connection, already warmed up. */
export interface Lender {
  name: string;
  /** Real connections to PostgreSQL rather than dummy resources. */
  real: boolean;
  /** Borrows and returns once. A distinct function per lender, so the JIT sees one target. */
  op: () => Promise<void>;
  close(): Promise<void>;
}

/** The measured cost of one borrow-and-return, in nanoseconds. */
export interface OverheadCell extends Record<string, number> {
  meanNs: number;
  p50Ns: number;
  p99Ns: number;
  /** 1 caller: the 99th percentile of ops timed one by one, clock reads included. */
  singleP99Ns: number;
  /** 50 callers: Jain's index of operations completed per caller, median over rounds. */
  jain: number;
}

/** One row of the overhead table. */
export interface OverheadRow {
  lender: string;
  real: boolean;
  callers: number;
  median: OverheadCell;
  runs: OverheadCell[];
}

const POOL_SIZE = 10;
/** Operations per 50-caller round: one mitata sample. */
const ROUND_OPS = 5_000;

/** The lenders compared: dummy-resource pools always, real-connection pools when `url` is given. */
export async function lenders(url: string | undefined): Promise<Lender[]> {
  const list: Lender[] = [];

  list.push({
    name: "bare await (floor)",
    real: false,
    op: async () => {
      await null;
    },
    close: () => Promise.resolve(),
  });

  const pool = new ConnectionPool({ driver: new FakeDriver(), maxOpenConns: POOL_SIZE });
  const held = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.getConnection()));
  for (const connection of held) connection.release();
  list.push({
    name: "@x/pool",
    real: false,
    op: async () => {
      const connection = await pool.getConnection();
      connection.release();
    },
    close: () => pool.close(),
  });

  const generic = genericPool.createPool(
    { create: () => Promise.resolve({}), destroy: () => Promise.resolve() },
    { max: POOL_SIZE, min: POOL_SIZE },
  );
  await generic.ready();
  list.push({
    name: "generic-pool",
    real: false,
    op: async () => {
      const resource = await generic.acquire();
      generic.release(resource);
    },
    close: async () => {
      await generic.drain();
      await generic.clear();
    },
  });

  const tarn = new TarnPool({
    create: () => Promise.resolve({}),
    destroy: () => {},
    min: POOL_SIZE,
    max: POOL_SIZE,
  });
  const tarnHeld = await Promise.all(
    Array.from({ length: POOL_SIZE }, () => tarn.acquire().promise),
  );
  for (const resource of tarnHeld) tarn.release(resource);
  list.push({
    name: "tarn",
    real: false,
    op: async () => {
      const resource = await tarn.acquire().promise;
      tarn.release(resource);
    },
    close: async () => {
      await tarn.destroy();
    },
  });

  if (url === undefined) return list;

  const pgPool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  const clients = await Promise.all(Array.from({ length: POOL_SIZE }, () => pgPool.connect()));
  for (const client of clients) client.release();
  list.push({
    name: "pg-pool connect()",
    real: true,
    op: async () => {
      const client = await pgPool.connect();
      client.release();
    },
    close: () => pgPool.end(),
  });

  const sql = postgres(url, { max: POOL_SIZE, onnotice: () => {} });
  const reserved = await Promise.all(Array.from({ length: POOL_SIZE }, () => sql.reserve()));
  for (const connection of reserved) connection.release();
  list.push({
    name: "postgres.js reserve()",
    real: true,
    op: async () => {
      const connection = await sql.reserve();
      connection.release();
    },
    close: () => sql.end({ timeout: 5 }),
  });

  if (bun) {
    const bunSql = new bun.SQL(url, { max: POOL_SIZE });
    const bunReserved = await Promise.all(
      Array.from({ length: POOL_SIZE }, () => bunSql.reserve()),
    );
    for (const connection of bunReserved) connection.release();
    list.push({
      name: "Bun.SQL reserve()",
      real: true,
      op: async () => {
        const connection = await bunSql.reserve();
        connection.release();
      },
      close: () => bunSql.close(),
    });
  }
  return list;
}

/** Measures one lender with 1 caller: mitata's per-op mean, p50 and p99, and single-op tail. */
async function oneCaller(lender: Lender, cpuTimeMs: number): Promise<OverheadCell> {
  const stats = await measure(lender.op, { gc, min_cpu_time: cpuTimeMs * 1e6 });
  // Each op timed alone: shows stalls that mitata's 4,096-op batches average away.
  const times = new Float64Array(smoke ? 2_000 : 50_000);
  for (let i = 0; i < times.length; i++) {
    const start = now();
    await lender.op();
    times[i] = now() - start;
  }
  return {
    meanNs: stats.avg,
    p50Ns: stats.p50,
    p99Ns: stats.p99,
    singleP99Ns: quantile(sorted(times), 0.99),
    jain: NaN,
  };
}

/**
 * Measures one lender with 50 callers on 10 connections. One mitata sample
 * is one round of {@linkcode ROUND_OPS} operations shared by the callers,
 * so a sample divided by ROUND_OPS is the cost of one operation.
 */
async function manyCallers(
  lender: Lender,
  callers: number,
  cpuTimeMs: number,
): Promise<OverheadCell> {
  const fairness: number[] = [];
  const op = lender.op;
  const round = async () => {
    const counts = new Float64Array(callers);
    let left = ROUND_OPS;
    const caller = async (i: number) => {
      while (left > 0) {
        left--;
        await op();
        counts[i]++;
      }
    };
    const running: Promise<void>[] = [];
    for (let i = 0; i < callers; i++) running.push(caller(i));
    await Promise.all(running);
    fairness.push(jain(counts));
  };
  const stats = await measure(round, { gc, min_cpu_time: cpuTimeMs * 1e6 });
  return {
    meanNs: stats.avg / ROUND_OPS,
    p50Ns: stats.p50 / ROUND_OPS,
    p99Ns: stats.p99 / ROUND_OPS,
    singleP99Ns: NaN,
    jain: median(fairness),
  };
}

/**
 * Runs benchmark A: every lender at 1 and at 50 callers, `repeats` times,
 * in an order that rotates each repeat so no lender always runs first.
 */
export async function benchOverhead(url: string | undefined, repeats: number) {
  const list = await lenders(url);
  const cpuTimeMs = smoke ? 20 : 150;
  const rows: OverheadRow[] = [];
  for (const callers of [1, 50]) {
    for (const lender of list) {
      rows.push({
        lender: lender.name,
        real: lender.real,
        callers,
        median: {} as OverheadCell,
        runs: [],
      });
    }
  }
  try {
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const callers of [1, 50]) {
        for (let k = 0; k < list.length; k++) {
          const lender = list[(k + repeat) % list.length];
          const cell = callers === 1
            ? await oneCaller(lender, cpuTimeMs)
            : await manyCallers(lender, callers, cpuTimeMs);
          rows.find((r) => r.lender === lender.name && r.callers === callers)!.runs.push(cell);
        }
      }
    }
  } finally {
    for (const lender of list) await lender.close();
  }
  for (const row of rows) row.median = medianOf(row.runs);
  return { poolSize: POOL_SIZE, roundOps: ROUND_OPS, rows, clock: await clockCost() };
}

/** The pool's clock: what one read costs, and how often a cycle reads it. */
export interface ClockCost {
  /** Mean cost of one `systemClock.now()` (`performance.now()`), in nanoseconds. */
  readNs: number;
  /** Clock reads per `getConnection()` + `release()`, 1 caller, idle connection. */
  readsPerCycle1: number;
  /** The same with 50 callers on 10 connections (each release hands over to a waiter). */
  readsPerCycle50: number;
}

/** Measures {@linkcode ClockCost}: the read in a tight loop, the reads per cycle by counting. */
export async function clockCost(): Promise<ClockCost> {
  const loops = smoke ? 100_000 : 2_000_000;
  const samples: number[] = [];
  let sink = 0;
  for (let round = 0; round < 7; round++) {
    const t0 = now();
    for (let i = 0; i < loops; i++) sink += systemClock.now();
    samples.push((now() - t0) / loops);
  }
  if (sink === -1) console.log(sink); // Keeps the loop from being optimised away.
  let reads = 0;
  const counting: Clock = {
    ...systemClock,
    now: () => {
      reads++;
      return systemClock.now();
    },
  };
  const pool = new ConnectionPool({
    driver: new FakeDriver(),
    maxOpenConns: POOL_SIZE,
    clock: counting,
  });
  try {
    const count = async (callers: number, cycles: number) => {
      const caller = async () => {
        for (let i = 0; i < cycles; i++) (await pool.getConnection()).release();
      };
      reads = 0;
      await Promise.all(Array.from({ length: callers }, caller));
      return reads / (callers * cycles);
    };
    await count(50, 100); // Opens the connections.
    return {
      readNs: median(samples),
      readsPerCycle1: await count(1, 1_000),
      readsPerCycle50: await count(50, 1_000),
    };
  } finally {
    await pool.close();
  }
}
