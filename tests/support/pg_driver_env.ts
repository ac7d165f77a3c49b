/**
 * What every test file of the node-postgres driver sets up: a real
 * PostgreSQL, an admin connection to it, and ways to open a named
 * connection.
 *
 * @module
 */

import { after, describe } from "node:test";
import { pgDriver, type PgDriverOptions } from "../../src/drivers/pg/mod.ts";
import type { Driver, DriverConnection } from "../../src/driver.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "./postgres.ts";
import { uniqueName } from "./driver_helpers.ts";

/** The prefix of the `application_name` of the tests' connections. */
export const PREFIX = "x-pool-pg-test";
/** The options of each test. */
export const TEST = { timeout: 30_000 };

/** One file's server, and the ways its tests reach it. */
export interface PgDriverEnv {
  db: TestPostgres;
  sql: Admin;
  /** Defines the file's suite: `body` defines its tests; the server stops after them. */
  suite(body: () => void): void;
  /** A driver to the server whose connections carry `name` as their `application_name`. */
  driverFor(name: string, options?: PgDriverOptions): Driver;
  /** A connection to the server, named `name`. */
  open(name?: string): Promise<DriverConnection>;
}

/**
 * Starts the server. Call it at the top level of a test file rather than in
 * before(): Bun ignores a hook's timeout option and gives hooks 5 s, which
 * initdb can take.
 */
export async function startPgDriverEnv(): Promise<PgDriverEnv> {
  const db = await startPostgres();
  const sql = admin(db.url);
  const driverFor = (name: string, options: PgDriverOptions = {}) =>
    pgDriver(db.url, { connection: { application_name: name }, ...options });
  return {
    db,
    sql,
    suite(body) {
      describe("pgDriver against a real PostgreSQL", () => {
        after(async () => {
          await sql.close();
          await db.stop();
        });
        body();
      });
    },
    driverFor,
    open: (name = uniqueName(PREFIX)) => driverFor(name).connect(AbortSignal.timeout(10_000)),
  };
}
