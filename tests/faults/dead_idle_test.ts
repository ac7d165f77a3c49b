/**
 * Idle connections whose network path silently drops everything (a NAT or
 * firewall idle timeout: no FIN, no RST), against a real PostgreSQL behind
 * the fault proxy: their validation ping is doubted after the pool's usual
 * round trip, and a free slot serves the caller with a fresh connection,
 * well within `acquireTimeout`.
 */

import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool } from "../../mod.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault_proxy.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { driverTargets } from "../support/driver_helpers.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const targets = driverTargets(server.options);
let proxy: FaultProxy;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("dead idle sockets", () => {
  beforeEach(async () => {
    proxy = await startFaultProxy(server.options);
  });

  afterEach(() => proxy.close());

  after(async () => {
    await db.close();
    await server.stop();
  });

  for (const target of targets) {
    const skipped = target.skip === undefined ? "" : ` (skipped: ${target.skip})`;
    it(
      `serves every call within acquireTimeout while two idle connections are blackholed (${target.name})${skipped}`,
      {
        skip: target.skip,
        timeout: 30_000,
      },
      async () => {
        const app = `x-pool-dead-idle-${target.name}`;
        const errors: string[] = [];
        const pool = new ConnectionPool({
          driver: target.driver(app, proxy.port),
          maxOpenConns: 3,
          acquireTimeout: 1_000,
          validateAfterIdle: 200,
          checkTimeout: 2_000,
          onError: (_, event) => errors.push(event),
        });
        try {
          const held = [await pool.getConnection(), await pool.getConnection()];
          for (const conn of held) {
            await conn.execute("select 1");
            conn.release();
          }
          const dead = proxy.pairs;
          assert.equal(dead.length, 2);
          for (const pair of dead) pair.set({ mode: "blackhole" });
          await sleep(300);
          // Calls before and after the silent pings time out (checkTimeout), each past validateAfterIdle.
          for (let call = 0; call < 8; call++) {
            const { rows } = await pool.execute("select $1::int as n", [call]);
            assert.deepEqual(rows, [{ n: call }]);
            await sleep(300);
          }
          const metrics = pool.getMetrics();
          assert.equal(metrics.validationsFailed, 2, JSON.stringify(errors));
          assert.equal(metrics.acquireTimeouts, 0);
          for (const pair of dead) pair.set({ mode: "pass" });
          await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
        } finally {
          for (const pair of proxy.pairs) pair.set({ mode: "pass" });
          await pool.close();
        }
      },
    );
  }
});
