/**
 * What every test file of the postgres.js driver sets up: a real PostgreSQL,
 * an admin connection to it, and a way to open a named connection.
 *
 * @module
 */

import { after, describe } from "node:test";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import type { DriverConnection } from "../../src/driver.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "./postgres.ts";
import { uniqueName } from "./driver_helpers.ts";

/** The prefix of the `application_name` of the tests' connections. */
export const PREFIX = "x-pool-driver-test";
/** The options of each test. */
export const TEST = { timeout: 30_000 };

/** One file's server, and the ways its tests reach it. */
export interface PostgresDriverEnv {
  db: TestPostgres;
  sql: Admin;
  /** Defines the file's suite: `body` defines its tests; the server stops after them. */
  suite(body: () => void): void;
  /** A connection to the server, named `name`. */
  open(name?: string): Promise<DriverConnection>;
}

/**
 * Starts the server. Call it at the top level of a test file rather than in
 * before(): Bun ignores a hook's timeout option and gives hooks 5 s, which
 * initdb can take.
 */
export async function startPostgresDriverEnv(): Promise<PostgresDriverEnv> {
  const db = await startPostgres();
  const sql = admin(db.url);
  return {
    db,
    sql,
    suite(body) {
      describe("postgresDriver against a real PostgreSQL", () => {
        after(async () => {
          await sql.close();
          await db.stop();
        });
        body();
      });
    },
    open(name = uniqueName(PREFIX)) {
      const driver = postgresDriver(db.url, { connection: { application_name: name } });
      return driver.connect(AbortSignal.timeout(10_000));
    },
  };
}
