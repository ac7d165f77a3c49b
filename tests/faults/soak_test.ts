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
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import {
  type Admin,
  admin,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault_proxy.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { between, pick, random } from "./_soak_random.ts";
import { COUNTERS, OP_WEIGHTS, run } from "./_soak_workload.ts";
import { FAULT_WEIGHTS, injectFault } from "./_soak_faults.ts";
import {
  bounded,
  bump,
  counters,
  describeError,
  failureKind,
  format,
  heapUsed,
  inconsistency,
  sum,
  type Tally,
} from "./_soak_checks.ts";

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
      const target = { pool, proxy, admin: db, applicationName: APP };

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
              // An open breaker refuses at once until its next probe, up to 5 s away: back off longer.
              if (kind === "CIRCUIT_OPEN") await sleep(between(rand, 100, 300));
            }
            tally.ops++;
          }
        };

        const injector = async () => {
          const rand = random(SEED * 1_000 + 999);
          while (running && Date.now() < deadline) {
            await sleep(between(rand, 200, 800));
            if (!running) break;
            for (const fault of await injectFault(pick(rand, FAULT_WEIGHTS), target, rand, pause)) {
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
          // An open circuit breaker closes at its next probe, at most 5 s after the heal.
          return metrics.inUse === 0 && metrics.waiting === 0 && metrics.connecting === 0 &&
            metrics.checking === 0 && metrics.circuitState === "closed";
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
