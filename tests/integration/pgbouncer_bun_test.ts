/**
 * The pool behind a real PgBouncer in transaction mode, in front of a real
 * PostgreSQL: over Bun.SQL (on Bun), transactions pinned to one backend, and
 * what `prepare: true` would break. The shared integration suite runs
 * through the bouncer too: `pool_pgbouncer_test.ts`.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { startPgBouncer } from "../support/pgbouncer.ts";
import { pinnedTransactions, SLOW, startPgBouncerEnv } from "../support/pgbouncer_env.ts";
import { SKIP } from "../support/bun_driver_env.ts";

const env = await startPgBouncerEnv();
const { server, loadLogin, unavailable, bouncer, loadPools, checkAndClose } = env;
after(() => env.close());

describe(
  "Bun.SQL through PgBouncer in transaction mode",
  { skip: unavailable ?? SKIP },
  () => {
    it(
      "keeps every statement of a transaction on one backend, none of them prepared, while transactions share the server pool",
      SLOW,
      async () => {
        const pools = loadPools("x-pool-bouncer-bun-tx", 2, 10, (name) =>
          bunDriver({
            ...loadLogin,
            host: bouncer!.options.host,
            port: bouncer!.options.port,
            pooler: "transaction",
            connection: { application_name: name },
          }));
        type Row = { pid: number; txid: string; prepared: number; s: number };
        const seen = await pinnedTransactions<Row>(
          pools,
          "select pg_backend_pid() as pid, txid_current()::text as txid, " +
            "(select count(*)::int from pg_prepared_statements) as prepared, " +
            "$1::int as s, pg_sleep(0.002)",
          true,
        );
        for (const rows of seen) {
          assert.deepEqual(rows.map((row) => row.s), [0, 1, 2, 3]);
          assert.deepEqual(rows.map((row) => row.prepared), [0, 0, 0, 0], "no prepared statement");
        }
        await checkAndClose(pools);
      },
    );

    it(
      "with prepare: true, a statement collides with another client's of the same name on a shared backend (42P05); the pooler's default does not",
      SLOW,
      async () => {
        // One backend, so that every client's statements reach it.
        const single = await startPgBouncer(server, { poolSize: 1 });
        const connect = (prepare: boolean | undefined) =>
          bunDriver({ ...single.options, pooler: "transaction", prepare }).connect(
            AbortSignal.timeout(10_000),
          );
        const connections = [];
        try {
          const first = await connect(true);
          connections.push(first);
          const second = await connect(true);
          connections.push(second);
          const unprepared = await connect(undefined);
          connections.push(unprepared);
          const pid = (await first.query("select $1::int as n, pg_backend_pid() as pid", [1]))
            .rows[0].pid;
          // Bun names each connection's first statement P0.
          await assert.rejects(
            second.query("select $1::text as t", ["x"]),
            (error: Error & { code?: string }) =>
              error.code === "42P05" && /"P0" already exists/.test(error.message),
          );
          const { rows } = await unprepared.query("select $1::text as t, pg_backend_pid() as pid", [
            "x",
          ]);
          assert.deepEqual(rows, [{ t: "x", pid }], "the same backend, where P0 exists");
        } finally {
          await Promise.all(connections.map((connection) => connection.close()));
          await single.close();
        }
      },
    );
  },
);
