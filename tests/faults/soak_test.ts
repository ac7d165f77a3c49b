/**
 * A soak of the pool over postgres.js against a real PostgreSQL, through the
 * fault proxy: at least 10,000 mixed operations from 20 callers on 8
 * connections, with faults injected at random while they run, and limits
 * small enough that every expiry, check and timeout path runs (the test
 * checks that each did, and that every kind of fault was injected). Every
 * operation must succeed, or fail with an error it provokes itself or that
 * a fault on at the time can cause (`_soak_expected.ts`); every write the
 * pool acknowledged must be in the table and none that was rolled back; and
 * at the end the pool must have leaked nothing and its heap must not have
 * grown much.
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
import { COVERAGE, type Fault, FAULT_WEIGHTS, injectFault } from "./_soak_faults.ts";
import { failureKind, FaultLog } from "./_soak_expected.ts";
import { SCHEMA, Writes } from "./_soak_writes.ts";
import {
  bounded,
  bump,
  counters,
  describeError,
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
/** Milliseconds the operations may take together: then the callers stop, done or not. */
const RUN_LIMIT = 75_000;
/**
 * The fewest operations that must run within RUN_LIMIT: a machine loaded by other work runs
 * fewer than OPS (about 9,400 at a load of 5 per core), and the soak checks its outcomes, not the
 * machine's speed; every fault and limit path must have run all the same.
 */
const MIN_OPS = Math.ceil(OPS / 2);
/** Milliseconds one operation may take before it counts as hung: far beyond every pool timeout. */
const OP_LIMIT = 15_000;
const HEAP_GROWTH_LIMIT = 50 * 1024 * 1024;
/** The share of operations that must succeed: most fail only while a fault is on. */
const MIN_SUCCESS = 0.7;
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
    `survives ${OPS} mixed operations (at least ${MIN_OPS} on a slow machine) with random faults (seed ${SEED}) without leaks`,
    { timeout: 120_000 },
    async () => {
      for (const statement of SCHEMA) await db.query(statement);
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
        causes: new Map(),
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
        // Off, so that callers wait out outages and acquire timeouts run; the breaker, which
        // refuses them at once instead, is tested in circuit_breaker_test.ts and
        // warming_breaker_test.ts.
        breakerThreshold: 0,
        onError: (_error, event) => bump(tally.poolEvents, event),
      });
      const log = new FaultLog();
      const writes = new Writes();
      const target = {
        pool,
        proxy,
        admin: db,
        applicationName: APP,
        note: (fault: Fault) => log.open(fault),
      };

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
            const start = Date.now();
            try {
              await bounded(run(pool, op, rand, writes), OP_LIMIT, op);
              tally.successes++;
            } catch (error) {
              const kind = failureKind(error);
              const cause = kind && log.explain(op, kind, start, Date.now());
              if (!cause) tally.unexpected.push({ op, error });
              else {
                bump(tally.failures, kind);
                bump(tally.causes, `${cause}:${kind}`);
              }
              // A refusal comes back at once: back off, as a client would, instead of spinning.
              if (kind === "POOL_EXHAUSTED") await sleep(between(rand, 5, 25));
            }
            tally.ops++;
          }
        };

        const injector = async () => {
          const rand = random(SEED * 1_000 + 999);
          for (let i = 0; running && Date.now() < deadline; i++) {
            await sleep(between(rand, 200, 800));
            if (!running) break;
            const [fault, inner] = COVERAGE[i] ?? [pick(rand, FAULT_WEIGHTS)];
            await injectFault(fault, target, rand, pause, inner);
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

        const dataProblems = await writes.problems(db);
        const mb = (bytes: number | undefined) =>
          bytes === undefined ? "n/a" : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
        console.log(
          `soak: seed ${SEED}, ${tally.ops} ops in ${duration} ms, ${tally.successes} ok, ` +
            `failures {${format(tally.failures)}}, by cause {${format(tally.causes)}}, ` +
            `unexpected ${tally.unexpected.length}, faults {${format(log.counts())}}, ` +
            `writes {${format(new Map(Object.entries(writes.counts())))}}, ` +
            `pool events {${format(tally.poolEvents)}}, ` +
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
          tally.ops >= MIN_OPS,
          `only ${tally.ops} of ${OPS} operations ran in ${RUN_LIMIT} ms`,
        );
        assert.equal(tally.ops, tally.successes + sum(tally.failures) + tally.unexpected.length);
        assert.ok(
          tally.successes >= tally.ops * MIN_SUCCESS,
          `only ${tally.successes} of ${tally.ops} operations succeeded`,
        );
        const faults = log.counts();
        assert.deepEqual(
          Object.keys(FAULT_WEIGHTS).filter((fault) => !faults.has(fault as Fault)),
          [],
          "every kind of fault was injected",
        );
        // And took effect: connections broke (reset, terminate, outage), connects failed (refuse,
        // outage), and each pool.reset() counted (a server-wide error may reset the pool too).
        assert.ok(metrics.connectionsLost > 0, "the faults broke connections");
        assert.ok(metrics.connectErrors > 0, "the faults failed connects");
        assert.ok(metrics.poolResets >= faults.get("poolReset")!, "each pool.reset() counted");
        assert.deepEqual(
          dataProblems,
          [],
          "the tables hold the acknowledged writes, and only them",
        );
        assert.ok(writes.counts().committed > 0, "some writes were committed");
        const paths = {
          "lifetime": metrics.maxLifetimeClosed,
          "idle time": metrics.maxIdleTimeClosed,
          "health check": metrics.healthChecksPassed,
          "check timeout": metrics.healthChecksFailed + metrics.validationsFailed,
          "acquire timeout": metrics.acquireTimeouts,
          "query timeout": tally.failures.get("QUERY_TIMEOUT") ?? 0,
        };
        assert.deepEqual(
          Object.entries(paths).filter(([, n]) => n === 0).map(([path]) => path),
          [],
          "every limit path ran",
        );
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
