/**
 * A soak of the pool over postgres.js against a real PostgreSQL, through the
 * fault proxy: at least 10,000 mixed operations from 20 callers on 8
 * connections, with faults injected at random while they run, and limits
 * small enough that every expiry, check and timeout path runs. Every
 * operation must succeed or fail with an expected error; at the end the pool
 * must have leaked nothing and its heap must not have grown much.
 *
 * The operations and faults are drawn from a seeded generator: `SOAK_SEED`
 * picks another sequence, `SOAK_OPS` another count. Timing still varies from
 * run to run, so a seed fixes what is done, not exactly when.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import postgres from "postgres";
import {
  ConnectionPool,
  type PoolConnection,
  PoolError,
  type PoolErrorEvent,
  type PoolMetrics,
  postgresDriver,
} from "../../mod.ts";
import {
  type Admin,
  admin,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault_proxy.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { collectGarbage } from "../support/gc.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const proxy: FaultProxy = await startFaultProxy(server.options);

const SEED = envInt("SOAK_SEED", 7_301);
const OPS = envInt("SOAK_OPS", 10_000);
const CALLERS = 20;
const MAX_OPEN = 8;
/** Milliseconds the operations may take together before the soak counts as hung. */
const RUN_LIMIT = 75_000;
/** Milliseconds one operation may take before it counts as hung: far beyond every pool timeout. */
const OP_LIMIT = 15_000;
const HEAP_GROWTH_LIMIT = 50 * 1024 * 1024;
const APP = "x-pool-soak";
/** Rows of soak_counters, which transactions update. */
const COUNTERS = 64;

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot run the soak: ${name} must be a non-negative integer, got ${text}`,
    );
  }
  return value;
}

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A random integer from `min` to `max`, both included. */
function between(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** Picks a key of `weights` with probability proportional to its weight. */
function pick<K extends string>(rand: () => number, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as [K, number][];
  let left = rand() * entries.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [key, weight] of entries) {
    left -= weight;
    if (left < 0) return key;
  }
  return entries[entries.length - 1][0];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a callback throws on purpose, to roll its transaction back. */
class SoakThrow extends Error {}
/** The reason of the soak's own aborts. */
class SoakAbort extends Error {}

/** postgres.js's codes (and the socket's) for a connection that broke or never opened. */
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
]);

/**
 * SQLSTATEs an operation may meet: its own errors (22012 division by zero,
 * 23505 duplicate key, 40001 serialization failure in repeatable read), 57014 for a statement cancelled by a release or a
 * timeout, and 57P01 / 08xxx when the soak terminates a backend. 25P02 (in a
 * failed transaction) is not here: it would mean a dirty connection was
 * handed out.
 */
const EXPECTED_SQLSTATES = /^(22012|23505|40001|57014|57P01|08[0-9A-Z]{3})$/;

/** The kind an expected failure is counted as, or `undefined` for an unexpected one. */
function failureKind(error: unknown): string | undefined {
  if (error instanceof PoolError) return error.code;
  if (error instanceof SoakAbort) return "aborted";
  if (error instanceof postgres.PostgresError) {
    return EXPECTED_SQLSTATES.test(error.code) ? `sqlstate ${error.code}` : undefined;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && typeof code === "string" && CONNECTION_CODES.has(code)) return code;
  return undefined;
}

/** A mistake in an operation's result: not a pool error, always a test failure. */
class WrongResult extends Error {}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new WrongResult(what);
}

type Op =
  | "execute"
  | "executeTimeout"
  | "executeAbort"
  | "loan"
  | "transactionCommit"
  | "transactionThrow"
  | "transactionFail"
  | "beginTx"
  | "dirtyRelease"
  | "releaseRunning"
  | "sleepTimeout";

const OP_WEIGHTS: Record<Op, number> = {
  execute: 28,
  executeTimeout: 10,
  executeAbort: 3,
  loan: 15,
  transactionCommit: 9,
  transactionThrow: 5,
  transactionFail: 5,
  beginTx: 9,
  dirtyRelease: 7,
  releaseRunning: 3,
  sleepTimeout: 3,
};

type Fault =
  | "reset"
  | "delay"
  | "blackhole"
  | "refuse"
  | "outage"
  | "terminate"
  | "poolReset"
  | "lull";

const FAULT_WEIGHTS: Record<Fault, number> = {
  reset: 2,
  delay: 3,
  blackhole: 2,
  refuse: 2,
  outage: 1,
  terminate: 3,
  poolReset: 2,
  lull: 2,
};

/** Faults that can strike the idle connections of a lull. */
const LULL_FAULTS: Record<Fault | "none", number> = {
  none: 2,
  reset: 1,
  delay: 0,
  blackhole: 2,
  refuse: 0,
  outage: 0,
  terminate: 2,
  poolReset: 0,
  lull: 0,
};

/** A signal that aborts with a {@linkcode SoakAbort} after `ms`, and its timer's stop. */
function abortAfter(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new SoakAbort(`aborted after ${ms} ms`)), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** One operation of kind `op` on `pool`; resolves or throws what the pool threw. */
async function run(pool: ConnectionPool, op: Op, rand: () => number): Promise<void> {
  const n = between(rand, 1, 1_000_000);
  const row = between(rand, 1, COUNTERS);
  switch (op) {
    case "execute": {
      const { rows } = await pool.execute<{ n: number }>("select $1::int as n", [n]);
      expect(rows.length === 1 && rows[0].n === n, `execute returned ${JSON.stringify(rows)}`);
      return;
    }
    case "executeTimeout": {
      const { rows } = await pool.execute<{ n: number }>("select $1::int + 1 as n", [n], {
        timeout: between(rand, 200, 1_000),
      });
      expect(rows[0]?.n === n + 1, `execute with timeout returned ${JSON.stringify(rows)}`);
      return;
    }
    case "executeAbort": {
      const abort = abortAfter(between(rand, 0, 30));
      try {
        await pool.execute("select pg_sleep($1::float8)", [between(rand, 0, 40) / 1_000], {
          signal: abort.signal,
        });
      } finally {
        abort.clear();
      }
      return;
    }
    case "loan": {
      const withSignal = rand() < 0.3;
      const abort = withSignal ? abortAfter(between(rand, 0, 60)) : undefined;
      const statements = between(rand, 2, 4);
      try {
        const connection = await pool.getConnection({ signal: abort?.signal });
        try {
          await checkClean(connection, abort?.signal);
          for (let i = 0; i < statements; i++) {
            const { rows } = await connection.execute<{ n: number }>(
              "select $1::int * 2 as n",
              [n + i],
              { signal: abort?.signal },
            );
            expect(rows[0]?.n === (n + i) * 2, `loan returned ${JSON.stringify(rows)}`);
          }
        } finally {
          connection.release();
        }
      } finally {
        abort?.clear();
      }
      return;
    }
    case "transactionCommit": {
      const value = await pool.transaction(async (tx) => {
        const { rows } = await tx.execute<{ n: number }>(
          "update soak_counters set n = n + 1 where id = $1 returning n",
          [row],
        );
        await tx.execute("insert into soak_log (counter) values ($1)", [row]);
        return rows[0]?.n;
      });
      expect(typeof value === "number", `transaction returned ${value}`);
      return;
    }
    case "transactionThrow": {
      const thrown = new SoakThrow("rolled back on purpose");
      try {
        await pool.transaction(async (tx) => {
          await tx.execute("update soak_counters set n = n + 1 where id = $1", [row]);
          throw thrown;
        });
      } catch (error) {
        if (error === thrown) return;
        throw error;
      }
      throw new WrongResult("a transaction whose callback threw resolved");
    }
    case "transactionFail": {
      const failing = rand() < 0.5
        ? "select 1 / (n - n) from soak_counters where id = $1"
        : "insert into soak_counters (id, n) values ($1, 0)";
      await pool.transaction(async (tx) => {
        await tx.execute("update soak_counters set n = n + 1 where id = $1", [row]);
        await tx.execute(failing, [row]);
      });
      throw new WrongResult(`a transaction with a failing statement resolved: ${failing}`);
    }
    case "beginTx": {
      const tx = await pool.beginTx(rand() < 0.2 ? { isolationLevel: "repeatable read" } : {});
      const commit = rand() < 0.6;
      try {
        await tx.execute("update soak_counters set n = n + 1 where id = $1", [row]);
        if (commit) await tx.commit();
        else await tx.rollback();
      } finally {
        // A failed statement leaves the transaction open; rolling it back releases it.
        if (tx.status === "open") await tx.rollback().catch(() => {});
      }
      return;
    }
    case "dirtyRelease": {
      const connection = await pool.getConnection();
      try {
        await checkClean(connection);
        await connection.execute("begin");
        await connection.execute("update soak_counters set n = n + 1 where id = $1", [row]);
        // Sometimes leave the transaction failed rather than open.
        if (rand() < 0.3) {
          await connection.execute("select 1 / 0").then(
            () => {
              throw new WrongResult("select 1 / 0 succeeded");
            },
            (error) => {
              if ((error as { code?: string }).code !== "22012") throw error;
            },
          );
        }
      } finally {
        connection.release();
      }
      return;
    }
    case "releaseRunning": {
      const connection = await pool.getConnection();
      let running: Promise<unknown>;
      try {
        running = connection.execute("select pg_sleep($1::float8)", [
          between(rand, 10, 50) / 1_000,
        ]);
        // Handled below; not yet awaited.
        running.catch(() => {});
        await sleep(between(rand, 0, 5));
      } finally {
        connection.release();
      }
      await running;
      return;
    }
    case "sleepTimeout": {
      const timeout = between(rand, 10, 60);
      await pool.execute("select pg_sleep(0.5)", [], { timeout });
      throw new WrongResult(`pg_sleep(0.5) finished within a ${timeout} ms timeout`);
    }
  }
}

/**
 * Throws unless `connection` is outside any transaction: a leaked open
 * transaction that wrote has an xid, a leaked failed one fails with 25P02.
 */
async function checkClean(connection: PoolConnection, signal?: AbortSignal): Promise<void> {
  const { rows } = await connection.execute<{ clean: boolean }>(
    "select pg_current_xact_id_if_assigned() is null as clean",
    [],
    { signal },
  );
  expect(rows[0]?.clean === true, "a connection was handed out inside a transaction");
}

/** A hung operation: never expected, since every wait in the pool is bounded. */
class Hung extends Error {}

/** Settles as `promise`, or rejects with {@linkcode Hung} after `ms`. */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hung(`${what} did not settle in ${ms} ms`)), ms);
  });
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

/** Counts of what happened, printed as one line at the end. */
interface Tally {
  ops: number;
  successes: number;
  failures: Map<string, number>;
  byOp: Map<Op, number>;
  unexpected: { op: Op; error: unknown }[];
  faults: Map<string, number>;
  poolEvents: Map<PoolErrorEvent, number>;
  metricViolations: string[];
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function format(map: Map<string, number>): string {
  return [...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(" ");
}

/** What is wrong with a metrics snapshot, or undefined. */
function inconsistency(metrics: PoolMetrics): string | undefined {
  const { openConnections, inUse, idle, connecting, checking, maxOpenConnections } = metrics;
  const sum = inUse + idle + connecting + checking;
  if (openConnections !== sum || openConnections > maxOpenConnections) {
    return `open ${openConnections}, in use ${inUse}, idle ${idle}, connecting ${connecting}, ` +
      `checking ${checking}, max ${maxOpenConnections}`;
  }
  return undefined;
}

async function heapUsed(): Promise<number | undefined> {
  // Let finished timers and sockets drop their references first.
  await sleep(50);
  if (!collectGarbage()) return undefined;
  return process.memoryUsage().heapUsed;
}

/**
 * Injects one random fault, bounded in time, and heals it before returning.
 * `pause` holds the callers back while it runs, so connections go idle.
 */
async function injectFault(
  fault: Fault,
  pool: ConnectionPool,
  rand: () => number,
  pause: (during: () => Promise<void>) => Promise<void>,
): Promise<string[]> {
  switch (fault) {
    case "reset":
      proxy.set({ mode: "reset" });
      proxy.set({ mode: "pass" });
      return [fault];
    case "delay": {
      const ms = between(rand, 5, 40);
      proxy.set({ mode: "pass", delay: { up: ms, down: ms } });
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return [fault];
    }
    case "blackhole":
      proxy.set({ mode: "blackhole" });
      try {
        await sleep(between(rand, 50, 600));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return [fault];
    case "refuse":
      await proxy.refuse(true);
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        await proxy.refuse(false);
      }
      return [fault];
    case "terminate": {
      const pids = await db.backends(APP);
      for (const pid of pids) {
        if (rand() < 0.4) await db.query("select pg_terminate_backend($1)", [pid]);
      }
      return [fault];
    }
    case "poolReset":
      pool.reset();
      return [fault];
    case "outage":
      // Every connection dies and no new one opens: callers wait, some past acquireTimeout.
      await proxy.refuse(true);
      try {
        proxy.set({ mode: "reset" });
        proxy.set({ mode: "pass" });
        await sleep(between(rand, 300, 1_000));
      } finally {
        await proxy.refuse(false);
      }
      return [fault];
    case "lull": {
      // Idle connections meet their idle limit, health checks and validation, and maybe a
      // fault that outlasts the lull, so that a validation or a check meets it.
      const inner = pick(rand, LULL_FAULTS);
      const injected: string[] = [fault];
      let faulting: Promise<string[]> | undefined;
      await pause(async () => {
        await sleep(between(rand, 300, 900));
        if (inner !== "none") {
          faulting = injectFault(inner, pool, rand, pause);
          // Awaited below; a rejection until then is not unhandled.
          faulting.catch(() => {});
        }
        await sleep(between(rand, 50, 300));
      });
      if (faulting !== undefined) injected.push(...await faulting);
      return injected;
    }
  }
}

describe("soak", () => {
  after(async () => {
    await proxy.close();
    await db.close();
    await server.stop();
  });

  it(
    `survives ${OPS} mixed operations with random faults (seed ${SEED}) without leaks`,
    { timeout: 120_000 },
    async () => {
      await db.query("drop table if exists soak_counters, soak_log");
      await db.query("create table soak_counters (id int primary key, n int not null)");
      await db.query("create table soak_log (id serial primary key, counter int not null)");
      await db.query(
        "insert into soak_counters (id, n) select i, 0 from generate_series(1, $1::int) i",
        [COUNTERS],
      );

      const tally: Tally = {
        ops: 0,
        successes: 0,
        failures: new Map(),
        byOp: new Map(),
        unexpected: [],
        faults: new Map(),
        poolEvents: new Map(),
        metricViolations: [],
      };
      const pool = new ConnectionPool({
        driver: postgresDriver({
          ...server.options,
          host: "127.0.0.1",
          port: proxy.port,
          connect_timeout: 2,
          // The backend notices a lost client within 100 ms, even inside pg_sleep().
          connection: { application_name: APP, client_connection_check_interval: "100ms" },
        }),
        maxOpenConns: MAX_OPEN,
        maxIdleConns: 6,
        maxConnecting: 2,
        maxWaiting: 14,
        connMaxLifetime: 2_000,
        connMaxLifetimeJitter: 500,
        connMaxIdleTime: 600,
        healthInterval: 300,
        validateAfterIdle: 50,
        checkTimeout: 300,
        acquireTimeout: 1_500,
        connectTimeout: 1_000,
        closeTimeout: 3_000,
        onError: (_error, event) => bump(tally.poolEvents, event),
      });

      try {
        // Warm up (no faults) so the heap baseline includes compiled code and settled caches.
        for (let i = 0; i < 200; i++) await pool.execute("select $1::int as n", [i]);
        const heapBefore = await heapUsed();

        const started = Date.now();
        const deadline = started + RUN_LIMIT;
        let issued = 0;
        let running = true;

        /** Set during a lull: callers wait for it before their next operation. */
        let lull: Promise<void> | undefined;
        const pause = async (during: () => Promise<void>) => {
          let end = () => {};
          lull = new Promise<void>((resolve) => (end = resolve));
          try {
            await during();
          } finally {
            lull = undefined;
            end();
          }
        };

        const caller = async (index: number) => {
          const rand = random(SEED * 1_000 + index);
          while (issued < OPS && Date.now() < deadline) {
            if (lull !== undefined) await lull;
            if (issued >= OPS) break;
            issued++;
            const op = pick(rand, OP_WEIGHTS);
            bump(tally.byOp, op);
            try {
              await bounded(run(pool, op, rand), OP_LIMIT, op);
              tally.successes++;
            } catch (error) {
              const kind = failureKind(error);
              if (kind === undefined) tally.unexpected.push({ op, error });
              else bump(tally.failures, kind);
              // A refusal comes back at once: back off, as a client would, instead of spinning.
              if (kind === "POOL_EXHAUSTED") await sleep(between(rand, 5, 25));
            }
            tally.ops++;
          }
        };

        const injector = async () => {
          const rand = random(SEED * 1_000 + 999);
          while (running && Date.now() < deadline) {
            await sleep(between(rand, 200, 800));
            if (!running) break;
            for (const fault of await injectFault(pick(rand, FAULT_WEIGHTS), pool, rand, pause)) {
              bump(tally.faults, fault);
            }
          }
        };

        const monitor = async () => {
          while (running && Date.now() < deadline) {
            const problem = inconsistency(pool.getMetrics());
            if (problem !== undefined && tally.metricViolations.length < 10) {
              tally.metricViolations.push(problem);
            }
            await sleep(25);
          }
        };

        const background = [injector(), monitor()];
        await Promise.all(Array.from({ length: CALLERS }, (_, i) => caller(i)));
        running = false;
        await Promise.all(background);
        const duration = Date.now() - started;

        // Heal everything, then wait for the pool to settle.
        proxy.set({ mode: "pass" });
        await proxy.refuse(false);
        await waitFor("the pool to quiesce", () => {
          const metrics = pool.getMetrics();
          return metrics.inUse === 0 && metrics.waiting === 0 && metrics.connecting === 0 &&
            metrics.checking === 0;
        }, 10_000);
        await assertNoLeaks(pool, { admin: db, applicationName: APP, proxy, deadlineMs: 10_000 });
        const metrics = pool.getMetrics();
        assert.equal(inconsistency(metrics), undefined, "the pool's metrics add up at the end");
        assert.equal(metrics.inUse, 0);

        // The pool still works after all that.
        const { rows } = await pool.execute<{ n: number }>("select 1 as n");
        assert.deepEqual(rows, [{ n: 1 }]);

        await pool.close();
        await waitFor("the pool's backends to leave", async () => {
          return (await db.backends(APP)).length === 0;
        }, 10_000);
        await proxy.drained(10_000);
        const heapAfter = await heapUsed();

        const mb = (bytes: number | undefined) =>
          bytes === undefined ? "n/a" : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
        console.log(
          `soak: seed ${SEED}, ${tally.ops} ops in ${duration} ms, ${tally.successes} ok, ` +
            `failures {${format(tally.failures)}}, unexpected ${tally.unexpected.length}, ` +
            `faults {${format(tally.faults)}}, pool events {${format(tally.poolEvents)}}, ` +
            `counters {${format(counters(metrics))}}, heap ${mb(heapBefore)} -> ${mb(heapAfter)}` +
            (heapBefore === undefined ? " (no forced GC here: heap growth not checked)" : ""),
        );

        assert.deepEqual(
          tally.unexpected.slice(0, 5).map(({ op, error }) => `${op}: ${describeError(error)}`),
          [],
          `${tally.unexpected.length} operations failed unexpectedly`,
        );
        assert.deepEqual(tally.metricViolations, [], "the pool's metrics add up during the soak");
        assert.ok(
          tally.ops >= OPS,
          `only ${tally.ops} of ${OPS} operations ran in ${RUN_LIMIT} ms`,
        );
        assert.equal(tally.ops, tally.successes + sum(tally.failures) + tally.unexpected.length);
        assert.ok(tally.successes > tally.ops / 2, "most operations succeed");
        if (heapBefore !== undefined && heapAfter !== undefined) {
          assert.ok(
            heapAfter - heapBefore < HEAP_GROWTH_LIMIT,
            `heap grew by ${mb(heapAfter - heapBefore)}`,
          );
        }
      } finally {
        await pool.close();
        proxy.set({ mode: "pass" });
        await proxy.refuse(false);
      }
    },
  );
});

/** The pool's nonzero counters that show which limit and fault paths ran. */
function counters(metrics: PoolMetrics): Map<string, number> {
  const names = [
    "connectionsCreated",
    "connectErrors",
    "acquireTimeouts",
    "acquireRejections",
    "maxIdleClosed",
    "maxIdleTimeClosed",
    "maxLifetimeClosed",
    "connectionsLost",
    "resetClosed",
    "validationsFailed",
    "healthChecksPassed",
    "healthChecksFailed",
  ] as const;
  return new Map(names.filter((name) => metrics[name] > 0).map((name) => [name, metrics[name]]));
}

function sum(map: Map<string, number>): number {
  let total = 0;
  for (const value of map.values()) total += value;
  return total;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code === undefined ? "" : ` (${code})`}: ${error.message}\n` +
    (error.stack ?? "").split("\n").slice(1, 6).join("\n");
}
