/**
 * What every test file of the Bun.SQL driver sets up: a real PostgreSQL and
 * an admin connection to it, started only on Bun, and a suite whose tests
 * are reported as skipped, with the reason, on another runtime.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import { bunDriver, type BunDriverOptions } from "../../src/drivers/bun/mod.ts";
import type { Driver, DriverConnection } from "../../src/driver.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "./postgres.ts";
import { ON_BUN, uniqueName } from "./driver_helpers.ts";

export { ON_BUN };
/** Why the tests cannot run here, or `undefined` on Bun. */
export const SKIP: string | undefined = ON_BUN ? undefined : "Bun.SQL needs Bun";
/** The prefix of the `application_name` of the tests' connections. */
export const PREFIX = "x-pool-bun-test";

const TEST = { timeout: 30_000 };
const SUITE = "bunDriver against a real PostgreSQL";

/** One file's server, and the ways its tests reach it. */
export interface BunDriverEnv {
  /**
   * Defines the file's suite: `body` defines its tests with `test`; the
   * server stops after them.
   */
  suite(body: () => void): void;
  /** Defines one test, reported as skipped with the reason off Bun. */
  test(name: string, fn: () => void | Promise<void>): void;
  /** The server and admin connection; only called from tests that run. */
  server(): { db: TestPostgres; sql: Admin };
  /** A driver to the server whose connections carry `name` as their `application_name`. */
  driverFor(name: string, options?: BunDriverOptions): Driver;
  /** A connection to the server, named `name`. */
  open(name?: string): Promise<DriverConnection>;
}

/**
 * Starts the server on Bun. Call it at the top level of a test file rather
 * than in before(): Bun gives hooks 5 s, which initdb can take.
 */
export async function startBunDriverEnv(): Promise<BunDriverEnv> {
  const db: TestPostgres | undefined = ON_BUN ? await startPostgres() : undefined;
  const sql: Admin | undefined = db && admin(db.url);
  const server = () => ({ db: db!, sql: sql! });
  const driverFor = (name: string, options: BunDriverOptions = {}) =>
    bunDriver(server().db.url, { connection: { application_name: name }, ...options });
  return {
    suite(body) {
      const title = SKIP === undefined ? SUITE : `${SUITE} (skipped: ${SKIP})`;
      describe(title, { skip: SKIP }, () => {
        after(async () => {
          await sql?.close();
          await db?.stop();
        });
        body();
      });
    },
    test(name, fn) {
      if (SKIP !== undefined) it(name, { skip: SKIP }, fn);
      else it(name, TEST, fn);
    },
    server,
    driverFor,
    open: (name = uniqueName(PREFIX)) => driverFor(name).connect(AbortSignal.timeout(10_000)),
  };
}
