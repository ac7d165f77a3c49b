/**
 * The pool behind a real PgBouncer in transaction mode, in front of a real
 * PostgreSQL: many pools sharing a small server pool, transactions pinned to
 * one backend, and a bouncer restart under load. The shared integration
 * suite runs through the bouncer too: `pool_pgbouncer_test.ts`.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../support/postgres.ts";
import {
  LOAD_ROLE,
  pinnedTransactions,
  SERVER_POOL,
  SLOW,
  startPgBouncerEnv,
} from "../support/pgbouncer_env.ts";

const env = await startPgBouncerEnv();
const { db, unavailable, bouncer, loadPools, checkAndClose } = env;
after(() => env.close());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The backends the bouncer holds on the server for the load role. */
async function loadBackends(): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where usename = $1",
    [LOAD_ROLE],
  );
  return rows[0].n;
}

describe("through PgBouncer in transaction mode", { skip: unavailable }, () => {
  it(
    `serves 8 pools of 10 connections through a server pool of ${SERVER_POOL}: every query succeeds, and the server never sees more than ${SERVER_POOL} backends`,
    SLOW,
    async () => {
      const POOLS = 8, CONNECTIONS = 10, CALLERS = 20, CALLS = 10;
      const pools = loadPools("x-pool-bouncer-load", POOLS, CONNECTIONS);
      let running = true;
      let samples = 0;
      let mostBackends = 0;
      let mostClients = 0;
      const sampler = (async () => {
        const deadline = Date.now() + 50_000;
        while (running && Date.now() < deadline) {
          mostBackends = Math.max(mostBackends, await loadBackends());
          const open = [...pools.values()].reduce((sum, pool) => {
            return sum + pool.getMetrics().openConnections;
          }, 0);
          mostClients = Math.max(mostClients, open);
          samples++;
          await sleep(5);
        }
      })();
      let succeeded = 0;
      const started = performance.now();
      try {
        await Promise.all(
          [...pools.values()].flatMap((pool, p) =>
            Array.from({ length: CALLERS }, async (_, caller) => {
              for (let i = 0; i < CALLS; i++) {
                const n = p * 10_000 + caller * 100 + i;
                let got: number;
                if (i % 5 === 4) {
                  got = await pool.transaction(async (tx) => {
                    await tx.execute("select pg_sleep(0.002)");
                    return (await tx.execute<{ n: number }>("select $1::int as n", [n])).rows[0].n;
                  });
                } else {
                  const { rows } = await pool.execute<{ n: number }>(
                    "select $1::int as n, pg_sleep(0.002)",
                    [n],
                  );
                  got = rows[0].n;
                }
                assert.equal(got, n);
                succeeded++;
              }
            })
          ),
        );
      } finally {
        running = false;
        await sampler;
      }
      const elapsed = Math.round(performance.now() - started);
      console.log(
        `pgbouncer load: ${succeeded} calls in ${elapsed} ms, ${mostClients} client connections, ` +
          `at most ${mostBackends} backends over ${samples} samples`,
      );
      assert.equal(succeeded, POOLS * CALLERS * CALLS);
      assert.ok(samples >= 2, `sampled the server ${samples} times`);
      assert.ok(
        mostBackends <= SERVER_POOL,
        `at most ${SERVER_POOL} backends, saw ${mostBackends}`,
      );
      assert.ok(mostBackends >= 2, `the load reached several backends, saw ${mostBackends}`);
      assert.equal(mostClients, POOLS * CONNECTIONS, "every pool had all its connections open");
      await checkAndClose(pools);
    },
  );

  it(
    "keeps every statement of a transaction on one backend while transactions share the server pool",
    SLOW,
    async () => {
      const pools = loadPools("x-pool-bouncer-tx", 2, 10);
      await pinnedTransactions(
        pools,
        "select pg_backend_pid() as pid, txid_current()::text as txid, pg_sleep(0.002)",
      );
      await checkAndClose(pools);
    },
  );

  it(
    "survives a bouncer restart under load: at most one error per in-flight call, then full recovery",
    SLOW,
    async () => {
      const POOLS = 4, CONNECTIONS = 5, WORKERS = 8, AFTER = 5;
      const pools = loadPools("x-pool-bouncer-restart", POOLS, CONNECTIONS);
      const list = [...pools.values()];
      let restarted = false;
      let calls = 0;
      const errors: string[][] = [];
      const deadline = Date.now() + 40_000;
      /** One chain of calls: each call starts when the one before it has settled. */
      async function worker(w: number): Promise<void> {
        const pool = list[w % POOLS];
        const mine: string[] = errors[w] = [];
        let successesAfter = 0;
        for (let i = 0; i < 2_000 && successesAfter < AFTER && Date.now() < deadline; i++) {
          const afterRestart = restarted;
          try {
            if (i % 3 === 2) {
              await pool.transaction(async (tx) => {
                await tx.execute("select pg_sleep(0.01)");
                await tx.execute("select $1::int as n", [i]);
              });
            } else {
              const { rows } = await pool.execute<{ n: number }>(
                "select $1::int as n, pg_sleep(0.01)",
                [i],
              );
              assert.equal(rows[0].n, i);
            }
            calls++;
            if (afterRestart) successesAfter++;
          } catch (error) {
            const { code, message } = error as { code?: string; message?: string };
            mine.push(`${code}: ${message}`);
          }
        }
        assert.equal(successesAfter, AFTER, `worker ${w} went on after the restart`);
      }
      const work = Promise.all(Array.from({ length: POOLS * WORKERS }, (_, w) => worker(w)));
      await waitFor("the load to run on every connection", () => {
        return calls >= 100 &&
          list.every((pool) => pool.getMetrics().openConnections === CONNECTIONS);
      }, 20_000);
      const inFlight = list.reduce((sum, pool) => sum + pool.getMetrics().inUse, 0);
      const down = performance.now();
      await bouncer!.stop();
      await bouncer!.start();
      const downtime = Math.round(performance.now() - down);
      restarted = true;
      await work;
      const perWorker = errors.map((mine) => mine.length);
      const failed = perWorker.reduce((sum, n) => sum + n, 0);
      console.log(
        `pgbouncer restart: ${calls} calls succeeded, ${inFlight} in flight at the stop, ` +
          `${failed} errors (at most ${Math.max(...perWorker)} per worker), down ${downtime} ms; ` +
          `errors: ${JSON.stringify([...new Set(errors.flat())])}`,
      );
      assert.ok(
        perWorker.every((n) => n <= 1),
        `at most one error per chain of calls: ${JSON.stringify(errors)}`,
      );
      assert.ok(failed >= 1, "the restart hit calls in flight");
      for (const error of errors.flat()) {
        assert.match(error, /^(CONNECTION_CLOSED|ECONNRESET|EPIPE):/, "only lost connections");
      }
      // Each connection dies once; a call on one that had already died would be a second error.
      assert.ok(
        failed <= POOLS * CONNECTIONS,
        `${failed} errors for ${POOLS * CONNECTIONS} connections`,
      );
      // Full recovery: every pool runs a statement on each of its connections at once.
      for (const pool of list) {
        const results = await Promise.all(
          Array.from({ length: CONNECTIONS }, () => pool.execute("select pg_sleep(0.01)")),
        );
        assert.equal(results.length, CONNECTIONS);
        assert.ok(pool.getMetrics().connectionsLost >= 1, "the pool saw its connections go");
      }
      await checkAndClose(pools);
    },
  );
});
