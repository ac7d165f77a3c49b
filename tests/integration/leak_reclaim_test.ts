/**
 * The leak reclaimer against a real PostgreSQL: a handle dropped while its
 * statement runs (`(await pool.getConnection()).execute(...)`) keeps its
 * connection until the statement ends, and only then is it taken back.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, type Driver, postgresDriver } from "../../mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { collectGarbage } from "../support/gc.ts";
import { assertNoLeaks } from "../support/leak_check.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const canCollect = collectGarbage();
const NO_GC = "needs a collectable heap: run Deno with --v8-flags=--expose-gc";
const drivers: [string, (app: string) => Driver][] = [
  [
    "postgres",
    (app) => postgresDriver({ ...server.options, connection: { application_name: app } }),
  ],
  ["pg", (app) => pgDriver({ ...server.options, connection: { application_name: app } })],
];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("leak reclaim with a statement running", () => {
  after(async () => {
    await db.close();
    await server.stop();
  });

  for (const [name, driver] of drivers) {
    const skipped = canCollect ? "" : ` (skipped: ${NO_GC})`;
    it(
      `never takes a connection whose statement still runs, and takes it back once it ended (${name})${skipped}`,
      {
        skip: !canCollect && NO_GC,
        timeout: 30_000,
      },
      async () => {
        const app = `x-pool-leak-reclaim-${name}`;
        const pool = new ConnectionPool({
          driver: driver(app),
          leakDetectionThreshold: 60_000,
        });
        try {
          // The handle is dropped as soon as execute() returns.
          const run = async () =>
            (await pool.getConnection()).execute("select pg_sleep(1.5), 7 as n");
          const statement = run();
          let done = false;
          statement.then(() => done = true, () => done = true);
          // Collections while it runs; finalizers of a collected handle would run meanwhile.
          for (let i = 0; i < 100 && !done; i++) {
            collectGarbage();
            await sleep(25);
          }
          assert.deepEqual((await statement).rows, [{ pg_sleep: "", n: 7 }]);
          assert.equal(pool.getMetrics().leaksReclaimed, 0);
          for (let i = 0; i < 100 && pool.getMetrics().leaksReclaimed === 0; i++) {
            collectGarbage();
            await sleep(20);
          }
          const { leaksReclaimed, inUse } = pool.getMetrics();
          assert.deepEqual([leaksReclaimed, inUse], [1, 0], "taken back once the statement ended");
          await assertNoLeaks(pool, { admin: db, applicationName: app });
        } finally {
          await pool.close();
        }
      },
    );
  }
});
