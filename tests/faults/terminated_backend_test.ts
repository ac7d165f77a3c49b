/**
 * SQLSTATE 57P01 against a real PostgreSQL, on every driver: the server
 * sends it both to one backend ended by `pg_terminate_backend()` and to
 * every backend at a shutdown. One terminated backend retires its own
 * connection only (the others keep their backends); a restart replaces
 * every connection.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, type PoolConnection } from "../../mod.ts";
import {
  type Admin,
  admin,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "../support/postgres.ts";
import { serverControl } from "../support/server_control.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { driverTargets } from "../support/driver_helpers.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const control = serverControl(server, db);
const targets = driverTargets(server.options);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let count = 0;

async function pidOf(conn: PoolConnection): Promise<number> {
  const { rows } = await conn.execute<{ pid: number }>("select pg_backend_pid() as pid");
  return rows[0].pid;
}

/** The backend pids of the pool's idle connections, taken all at once and given back. */
async function idlePids(pool: ConnectionPool, n: number): Promise<number[]> {
  const conns = await Promise.all(Array.from({ length: n }, () => pool.getConnection()));
  const pids = await Promise.all(conns.map(pidOf));
  for (const conn of conns) conn.release();
  return pids.sort();
}

function openPool(target: (typeof targets)[number]) {
  const app = `x-pool-terminated-${target.name}-${++count}`;
  const events: string[] = [];
  const pool = new ConnectionPool({
    driver: target.driver(app),
    maxOpenConns: 3,
    validateAfterIdle: 0,
    acquireTimeout: 10_000,
    onError: (_, event) => events.push(event),
  });
  return { pool, app, events };
}

describe("a terminated backend and a restart", () => {
  after(async () => {
    await control.close();
    await db.close();
    await server.stop();
  });

  for (const target of targets) {
    const skipped = target.skip === undefined ? "" : ` (skipped: ${target.skip})`;

    it(
      `retires only the connection whose backend was terminated mid-statement (${target.name})${skipped}`,
      {
        skip: target.skip,
        timeout: 30_000,
      },
      async () => {
        const { pool, app, events } = openPool(target);
        try {
          const victim = await pool.getConnection();
          const victimPid = await pidOf(victim);
          const others = await idlePids(pool, 2);
          const doomed = assert.rejects(victim.execute("select pg_sleep(5)"));
          await waitFor("the statement to run", async () => {
            const rows = await db.query(
              "select 1 from pg_stat_activity where pid = $1 and state = 'active'",
              [victimPid],
            );
            return rows.length === 1;
          });
          assert.equal(await control.terminate(victimPid), true);
          await doomed;
          victim.release();
          // Time for the check of the server to end, and for a reset, if one came, to show.
          await sleep(1_000);
          assert.equal(pool.getMetrics().poolResets, 0, JSON.stringify(events));
          assert.ok(!events.includes("failover"), JSON.stringify(events));
          assert.deepEqual(await idlePids(pool, 2), others, "the others kept their backends");
          await assertNoLeaks(pool, { admin: db, applicationName: app });
        } finally {
          await pool.close();
        }
      },
    );

    it(`retires only the idle connection whose backend was terminated (${target.name})${skipped}`, {
      skip: target.skip,
      timeout: 30_000,
    }, async () => {
      const { pool, app, events } = openPool(target);
      try {
        const [victimPid, ...others] = await idlePids(pool, 3);
        assert.equal(await control.terminate(victimPid), true);
        await waitFor("the pool to drop it", () => pool.getMetrics().openConnections === 2);
        await sleep(1_000);
        assert.equal(pool.getMetrics().poolResets, 0, JSON.stringify(events));
        assert.deepEqual(await idlePids(pool, 2), others, "the others kept their backends");
        await assertNoLeaks(pool, { admin: db, applicationName: app });
      } finally {
        await pool.close();
      }
    });

    const restartSkip = target.skip ?? control.processUnavailable;
    const restartSkipped = restartSkip === undefined ? "" : ` (skipped: ${restartSkip})`;
    it(`replaces every connection when the server restarts (${target.name})${restartSkipped}`, {
      skip: restartSkip,
      timeout: 60_000,
    }, async () => {
      const { pool, app, events } = openPool(target);
      try {
        const before = await idlePids(pool, 3);
        const held = await pool.getConnection();
        await control.stop();
        await control.start();
        await assert.rejects(held.execute("select 1"));
        held.release();
        const after = await idlePids(pool, 3);
        assert.ok(after.every((pid) => !before.includes(pid)), `${before} then ${after}`);
        assert.ok(pool.getMetrics().poolResets >= 1, JSON.stringify(events));
        assert.ok(events.includes("failover"), JSON.stringify(events));
        await assertNoLeaks(pool, { admin: db, applicationName: app });
      } finally {
        await pool.close();
      }
    });
  }
});
