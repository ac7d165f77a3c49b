/**
 * What the tests of the pool behind a real PgBouncer in transaction mode set
 * up: a real PostgreSQL with a role only the load goes through, so that the
 * server can count the bouncer's backends for it, a bouncer in front of it
 * with a small server pool, and the ways the tests make pools through it
 * and check that they leave nothing behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ConnectionPool,
  type Driver,
  postgresDriver,
  type PostgresDriverOptions,
} from "../../mod.ts";
import {
  type Admin,
  admin,
  type ConnectionOptions,
  startPostgres,
  type TestPostgres,
  waitFor,
} from "./postgres.ts";
import { type ServerControl, serverControl } from "./server_control.ts";
import { pgBouncerUnavailable, startPgBouncer, type TestPgBouncer } from "./pgbouncer.ts";

/** The options of each test. */
export const SLOW = { timeout: 60_000 };
/** The bouncer's server pool, per database and user. */
export const SERVER_POOL = 5;
/** A role only the load goes through, so the server can count the bouncer's backends for it. */
export const LOAD_ROLE = "x_pool_bouncer_load";

/** One file's server and bouncer, and the ways its tests use them. */
export interface PgBouncerEnv {
  server: TestPostgres;
  db: Admin;
  control: ServerControl;
  /** The login of {@linkcode LOAD_ROLE}, on the server. */
  loadLogin: ConnectionOptions;
  /** Why the bouncer cannot run here, or `undefined` when it runs. */
  unavailable: string | undefined;
  /** The bouncer, unless it is unavailable; only used by tests that run. */
  bouncer: TestPgBouncer | undefined;
  /** A driver through the bouncer, logged in as `login`, with `pooler: "transaction"`. */
  viaBouncer(
    login: ConnectionOptions,
    applicationName: string,
    extra?: PostgresDriverOptions,
  ): Driver;
  /**
   * `count` pools through the bouncer as the load role, by `application_name`
   * `${prefix}-${i}`; over postgres.js unless `driver` makes another.
   */
  loadPools(
    prefix: string,
    count: number,
    connections: number,
    driver?: (applicationName: string) => Driver,
  ): Map<string, ConnectionPool>;
  /**
   * Waits until every pool has nothing in use and as many open connections as
   * the bouncer has clients for it, then closes the pools and waits for those
   * clients to leave.
   */
  checkAndClose(pools: Map<string, ConnectionPool>): Promise<void>;
  /** Stops the bouncer and the server, and drops what the tests created. */
  close(): Promise<void>;
}

/**
 * Starts the server, and the bouncer where it is available. Call it at the
 * top level of a test file rather than in before(): Bun gives hooks 5 s, and
 * a cold start can take longer.
 */
export async function startPgBouncerEnv(): Promise<PgBouncerEnv> {
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

  return {
    server,
    db,
    control,
    loadLogin,
    unavailable,
    bouncer,
    viaBouncer,
    loadPools,
    checkAndClose,
    async close() {
      await bouncer?.close();
      await control.close();
      await db.close();
      await server.stop();
    },
  };
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
export async function pinnedTransactions<Row extends { pid: number; txid: string }>(
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
