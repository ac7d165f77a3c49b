/**
 * The pool behind a real PgBouncer in transaction mode (`_pgbouncer.ts`), in
 * front of a real PostgreSQL: many pools sharing a small server pool,
 * transactions pinned to one backend, a bouncer restart under load, and what
 * the driver's `pooler: "transaction"` changes; over Bun.SQL (on Bun),
 * transactions pinned to one backend and what `prepare: true` would break.
 * The shared integration suite runs through the bouncer too:
 * `pool_pgbouncer_test.ts`.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionPool,
  type Driver,
  postgresDriver,
  type PostgresDriverOptions,
  QueryTimeoutError,
} from "../../mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { admin, type ConnectionOptions, startPostgres, waitFor } from "../support/postgres.ts";
import { serverControl } from "../support/server_control.ts";
import { pgBouncerUnavailable, startPgBouncer, type TestPgBouncer } from "../support/pgbouncer.ts";

const SLOW = { timeout: 60_000 };
/** The bouncer's server pool, per database and user. */
const SERVER_POOL = 5;
/** A role only the load goes through, so the server can count the bouncer's backends for it. */
const LOAD_ROLE = "x_pool_bouncer_load";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ON_BUN = typeof (globalThis as { Bun?: { SQL?: unknown } }).Bun?.SQL === "function";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const unavailable = pgBouncerUnavailable();
const server = await startPostgres();
const db = admin(server.url);
const control = serverControl(server, db);
// A role left by a run that died (with DATABASE_URL) would make createRole fail.
await db.query("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1", [
  LOAD_ROLE,
]);
await db.query(`drop role if exists ${LOAD_ROLE}`);
const loadLogin: ConnectionOptions = await control.createRole(LOAD_ROLE);
const bouncer: TestPgBouncer | undefined = unavailable === undefined
  ? await startPgBouncer(server, { poolSize: SERVER_POOL, users: [loadLogin] })
  : undefined;

after(async () => {
  await bouncer?.close();
  await control.close();
  await db.close();
  await server.stop();
});

/** A driver through the bouncer, logged in as `login`, with `pooler: "transaction"`. */
function viaBouncer(
  login: ConnectionOptions,
  applicationName: string,
  extra: PostgresDriverOptions = {},
): Driver {
  return postgresDriver({
    ...login,
    host: bouncer!.options.host,
    port: bouncer!.options.port,
    pooler: "transaction",
    connection: { application_name: applicationName },
    ...extra,
  });
}

/**
 * `count` pools through the bouncer as the load role, by `application_name`
 * `${prefix}-${i}`; over postgres.js unless `driver` makes another.
 */
function loadPools(
  prefix: string,
  count: number,
  connections: number,
  driver: (applicationName: string) => Driver = (name) => viaBouncer(loadLogin, name),
): Map<string, ConnectionPool> {
  const pools = new Map<string, ConnectionPool>();
  for (let i = 0; i < count; i++) {
    const name = `${prefix}-${i}`;
    pools.set(
      name,
      new ConnectionPool({
        driver: driver(name),
        maxOpenConns: connections,
        acquireTimeout: 30_000,
      }),
    );
  }
  return pools;
}

const PINNED_TRANSACTIONS = 60;
const PINNED_STATEMENTS = 4;

/**
 * Runs {@linkcode PINNED_TRANSACTIONS} concurrent transactions of
 * {@linkcode PINNED_STATEMENTS} statements each over `pools`; `text` must
 * return `pid` (`pg_backend_pid()`) and `txid` (`txid_current()`), and gets
 * the statement's index as `$1` when `indexed`. Checks that each transaction
 * kept one backend and one transaction id, and that they spread over several
 * of the bouncer's backends but no more than its server pool; returns each
 * transaction's rows for further checks.
 */
async function pinnedTransactions<Row extends { pid: number; txid: string }>(
  pools: Map<string, ConnectionPool>,
  text: string,
  indexed = false,
): Promise<Row[][]> {
  const list = [...pools.values()];
  const seen = await Promise.all(
    Array.from(
      { length: PINNED_TRANSACTIONS },
      (_, t) =>
        list[t % list.length].transaction(async (tx) => {
          const rows: Row[] = [];
          for (let s = 0; s < PINNED_STATEMENTS; s++) {
            const result = await tx.execute<Row>(text, indexed ? [s] : []);
            rows.push(result.rows[0]);
          }
          return rows;
        }),
    ),
  );
  const pids = new Set<number>();
  const txids = new Set<string>();
  for (const rows of seen) {
    assert.equal(new Set(rows.map((row) => row.pid)).size, 1, "one backend per transaction");
    assert.equal(new Set(rows.map((row) => row.txid)).size, 1, "one transaction id");
    pids.add(rows[0].pid);
    txids.add(rows[0].txid);
  }
  assert.equal(txids.size, PINNED_TRANSACTIONS, "each transaction was a transaction of its own");
  assert.ok(pids.size >= 2, `transactions ran on several backends, saw ${pids.size}`);
  assert.ok(pids.size <= SERVER_POOL, `at most ${SERVER_POOL} backends, saw ${pids.size}`);
  return seen;
}

/**
 * Waits until every pool has nothing in use and as many open connections as
 * the bouncer has clients for it, then closes the pools and waits for those
 * clients to leave.
 */
async function checkAndClose(pools: Map<string, ConnectionPool>): Promise<void> {
  try {
    for (const [name, pool] of pools) {
      await waitFor(
        `${name}: nothing in use, and its open connections are the bouncer's clients`,
        async () => {
          const { inUse, openConnections } = pool.getMetrics();
          return inUse === 0 && (await bouncer!.clients(name)) === openConnections;
        },
      );
    }
  } finally {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
  }
  for (const name of pools.keys()) {
    await waitFor(`${name}: its clients to leave the bouncer`, async () => {
      return (await bouncer!.clients(name)) === 0;
    });
  }
}

/** The backends the bouncer holds on the server for the load role. */
async function loadBackends(): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where usename = $1",
    [LOAD_ROLE],
  );
  return rows[0].n;
}

describe("pooler option", () => {
  it("refuses a pooler other than transaction, naming the option and the value", () => {
    for (const value of ["statement", "session", "TRANSACTION", 1]) {
      assert.throws(
        () => postgresDriver(server.url, { pooler: value as "transaction" }),
        (error: Error) =>
          error instanceof TypeError && error.message.includes("pooler") &&
          error.message.includes(typeof value === "string" ? `"${value}"` : String(value)),
      );
    }
  });

  it("makes the pool refuse resetSession, which would reach another backend", () => {
    const driver = postgresDriver(server.url, { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    assert.throws(
      () => new ConnectionPool({ driver, resetSession: true }),
      (error: Error) => error instanceof TypeError && /resetSession \(true\)/.test(error.message),
    );
    const direct = postgresDriver(server.url);
    assert.notEqual(direct.sharesSessions, true);
    return new ConnectionPool({ driver: direct, resetSession: true }).close();
  });

  it("refuses discard() on a connection made for a pooler", async () => {
    const connection = await postgresDriver(server.url, { pooler: "transaction" }).connect(
      AbortSignal.timeout(10_000),
    );
    try {
      await assert.rejects(connection.discard!(), TypeError);
    } finally {
      await connection.close();
    }
  });
});

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

  it(
    "runs without named prepared statements: no backend holds one, not even for the statement asking",
    SLOW,
    async () => {
      const text = "select count(*)::int as n, pg_backend_pid() as pid " +
        "from pg_prepared_statements where $1::int > 0";
      const pools = new Map<string, ConnectionPool>();
      const name = "x-pool-bouncer-unprepared";
      const pool = new ConnectionPool({ driver: viaBouncer(loadLogin, name), maxOpenConns: 10 });
      pools.set(name, pool);
      const results = await Promise.all(
        Array.from({ length: 100 }, () => pool.execute<{ n: number; pid: number }>(text, [1])),
      );
      const pids = new Set(results.map((result) => result.rows[0].pid));
      assert.deepEqual(results.map((result) => result.rows[0].n), results.map(() => 0));
      // The contrast: with prepare on, the statement is named, and lists itself.
      const preparedName = "x-pool-bouncer-prepared";
      const prepared = new ConnectionPool({
        driver: viaBouncer(loadLogin, preparedName, { prepare: true }),
        maxOpenConns: 1,
      });
      pools.set(preparedName, prepared);
      const { rows } = await prepared.execute<{ n: number }>(text, [1]);
      assert.ok(rows[0].n >= 1, `a named statement lists itself, saw ${rows[0].n}`);
      assert.ok(pids.size >= 1);
      await checkAndClose(pools);
    },
  );

  it(
    "runs a statement again on a backend that never saw it, where a named prepared statement fails",
    SLOW,
    async () => {
      const text = "select $1::int as n, pg_backend_pid() as pid";
      const outcomes: Record<string, string> = {};
      for (const prepare of [false, true]) {
        const name = `x-pool-bouncer-moved-${prepare}`;
        const holdersName = `${name}-holders`;
        const pool = new ConnectionPool({
          driver: viaBouncer(loadLogin, name, { prepare }),
          maxOpenConns: 1,
        });
        const holders = new ConnectionPool({
          driver: viaBouncer(loadLogin, holdersName),
          maxOpenConns: SERVER_POOL - 1,
        });
        const held = [];
        try {
          const conn = await pool.getConnection();
          try {
            const first = (await conn.execute<{ pid: number }>(text, [1])).rows[0].pid;
            // Hold the backend that ran it, so the next run must take another.
            let holding = false;
            for (let i = 0; i < SERVER_POOL - 1 && !holding; i++) {
              const tx = await holders.beginTx();
              held.push(tx);
              const { rows } = await tx.execute<{ pid: number }>("select pg_backend_pid() as pid");
              holding = rows[0].pid === first;
            }
            assert.ok(holding, `a holder got backend ${first}`);
            // In a transaction, so that postgres.js cannot quietly prepare it again and retry.
            await conn.execute("begin");
            try {
              const { rows } = await conn.execute<{ n: number; pid: number }>(text, [2]);
              assert.notEqual(rows[0].pid, first);
              outcomes[String(prepare)] = `ok ${rows[0].n}`;
            } catch (error) {
              outcomes[String(prepare)] = `error ${(error as { code?: string }).code}`;
            } finally {
              await conn.execute("rollback");
            }
          } finally {
            conn.release();
          }
        } finally {
          for (const tx of held) await tx.rollback();
          await checkAndClose(new Map([[name, pool], [holdersName, holders]]));
        }
      }
      assert.deepEqual(outcomes, { false: "ok 2", true: "error 26000" });
    },
  );

  it("cancels a statement past its timeout on the server, through the bouncer", SLOW, async () => {
    const name = "x-pool-bouncer-cancel";
    const pool = new ConnectionPool({ driver: viaBouncer(loadLogin, name), maxOpenConns: 1 });
    const backendsOf = (state: string) =>
      db.query(
        "select pid from pg_stat_activity where usename = $1 and state = $2 " +
          "and query = 'select pg_sleep(30)'",
        [LOAD_ROLE, state],
      );
    try {
      await assert.rejects(
        pool.execute("select pg_sleep(30)", [], { timeout: 300 }),
        QueryTimeoutError,
      );
      // Uncancelled, the backend would sleep for 30 s.
      await waitFor("the backend to stop sleeping", async () => {
        return (await backendsOf("active")).length === 0;
      });
      assert.equal((await backendsOf("idle")).length, 1, "the statement reached a backend");
      const { rows } = await pool.execute("select 1 as n");
      assert.deepEqual(rows, [{ n: 1 }]);
      assert.equal(pool.getMetrics().connectionsCreated, 1, "the connection survived the cancel");
    } finally {
      await checkAndClose(new Map([[name, pool]]));
    }
  });

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

describe(
  "Bun.SQL through PgBouncer in transaction mode",
  { skip: unavailable ?? (ON_BUN ? undefined : "Bun.SQL needs Bun") },
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
