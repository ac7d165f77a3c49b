/**
 * The pool behind a real PgBouncer in transaction mode, in front of a real
 * PostgreSQL: health checks while the server behind the bouncer is down, and
 * connects the bouncer refuses. The shared integration suite runs through
 * the bouncer too: `pool_pgbouncer_test.ts`.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { waitFor } from "../support/postgres.ts";
import { SLOW, startPgBouncerEnv } from "../support/pgbouncer_env.ts";

const env = await startPgBouncerEnv();
const { control, loadLogin, unavailable, bouncer, viaBouncer, checkAndClose } = env;
after(() => env.close());

describe("through PgBouncer in transaction mode", { skip: unavailable }, () => {
  it(
    "fails health checks while the server is down behind a live bouncer, then recovers",
    { ...SLOW, skip: control.processUnavailable },
    async () => {
      const name = "x-pool-bouncer-health";
      const events: string[] = [];
      const pool = new ConnectionPool({
        driver: viaBouncer(loadLogin, name),
        maxOpenConns: 2,
        healthInterval: 100,
        checkTimeout: 500,
        onError: (error, event) => events.push(`${event} ${(error as { code?: string }).code}`),
      });
      try {
        await Promise.all([pool.execute("select pg_sleep(0.02)"), pool.execute("select 1")]);
        await waitFor("a health check to pass", () => pool.getMetrics().healthChecksPassed >= 1);
        await control.stop();
        try {
          await waitFor("a health check to fail", () => pool.getMetrics().healthChecksFailed >= 1);
          // The bouncer itself answers all along: a ping proves a backend, not the bouncer.
          assert.ok((await bouncer!.admin("show version")).length === 1, "the bouncer is alive");
        } finally {
          await control.start();
        }
        // PgBouncer either queues the ping for a backend until checkTimeout,
        // or ends the client once it fails to reach the server.
        assert.ok(
          events.some((event) => /^healthCheck (CHECK_TIMEOUT|CONNECTION_CLOSED)$/.test(event)),
          JSON.stringify(events),
        );
        const { rows } = await pool.execute("select 1 as n");
        assert.deepEqual(rows, [{ n: 1 }]);
      } finally {
        await checkAndClose(new Map([[name, pool]]));
      }
    },
  );

  it(
    "fails every waiting caller at once on a wrong password, as PgBouncer reports it",
    SLOW,
    async () => {
      const bad = new ConnectionPool({
        driver: viaBouncer({ ...loadLogin, password: "wrong" }, "x-pool-bouncer-bad-password"),
        acquireTimeout: 30_000,
      });
      try {
        const results = await Promise.allSettled([bad.getConnection(), bad.getConnection()]);
        for (const result of results) {
          assert.equal(result.status, "rejected");
          const { code, message } = result.reason as { code?: string; message?: string };
          assert.equal(code, "08P01");
          assert.match(message ?? "", /authentication failed/);
        }
        assert.ok(bad.getMetrics().connectErrors <= 2, "one attempt per caller at most");
      } finally {
        await bad.close();
      }
    },
  );

  it(
    "fails at once on a startup parameter PgBouncer does not track, rather than retrying",
    SLOW,
    async () => {
      const refused = new ConnectionPool({
        driver: postgresDriver({
          ...bouncer!.options,
          pooler: "transaction",
          connection: { statement_timeout: 1000 },
        }),
        acquireTimeout: 30_000,
      });
      try {
        await assert.rejects(refused.getConnection(), (error: Error & { code?: string }) => {
          return error.code === "08P01" && /unsupported startup parameter/.test(error.message);
        });
        assert.equal(refused.getMetrics().connectErrors, 1);
      } finally {
        await refused.close();
      }
    },
  );
});
