/**
 * The targets the shared integration suite (`_integration_suite.ts`) runs
 * over: a driver, and the way to the server it connects through. Each entry
 * of the matrix is one of these; a target that cannot run on this runtime,
 * or a test that does not hold for it, is reported as skipped with the
 * reason, never as passed.
 *
 * @module
 */

import { type Driver, postgresDriver, type PostgresDriverOptions } from "../../mod.ts";
import type { Admin, TestPostgres } from "../support/postgres.ts";
import type { TestPgBouncer } from "../support/pgbouncer.ts";
import assert from "node:assert/strict";
import { bunDriver, type BunDriverOptions } from "../../src/drivers/bun/mod.ts";
import { pgDriver, type PgDriverOptions } from "../../src/drivers/pg/mod.ts";

/** What a target's driver may be asked to connect with instead of the right settings. */
export interface DriverOverrides {
  /** A wrong password, to see authentication fail. */
  password?: string;
  /** A port nothing listens on, to see the connection refused. */
  port?: number;
}

/** One entry of the integration matrix. */
export interface IntegrationTarget {
  /** Shown in the suite's name, such as "postgres.js". */
  name: string;
  /** Why no test of this target can run here; the tests are then reported as skipped. */
  skip?: string;
  /** The server behind the target, reached directly by the suite's admin connection. */
  server: TestPostgres;
  /** A driver whose connections carry `applicationName`, as the pool under test uses it. */
  driver(applicationName: string, overrides?: DriverOverrides): Driver;
  /**
   * How many connections carrying `applicationName` are open at the
   * endpoint the driver talks to. Without it: the server's backends with
   * that `application_name`.
   */
  sessions?(admin: Admin, applicationName: string): Promise<number>;
  /** Tests of the suite, by title, that do not hold for this target, with the reason. */
  notApplicable?: Readonly<Record<string, string>>;
}

/** The postgres.js driver straight to the server. */
export function postgresJsTarget(server: TestPostgres): IntegrationTarget {
  return {
    name: "postgres.js",
    server,
    driver: (applicationName, overrides = {}) =>
      postgresDriver({
        ...server.options,
        ...overrides,
        connection: { application_name: applicationName },
      }),
  };
}

/** Bun's built-in client, Bun.SQL, straight to the server; skipped with the reason off Bun. */
export function bunSqlTarget(server: TestPostgres): IntegrationTarget {
  return {
    name: "Bun.SQL",
    skip: onBun() ? undefined : "Bun.SQL needs Bun",
    server,
    driver: (applicationName, overrides = {}) =>
      bunDriver({
        ...server.options,
        ...overrides,
        connection: { application_name: applicationName },
      }),
  };
}

/** node-postgres's `pg.Client` straight to the server. */
export function pgTarget(server: TestPostgres): IntegrationTarget {
  return {
    name: "pg",
    server,
    driver: (applicationName, overrides = {}) =>
      pgDriver({
        ...server.options,
        ...overrides,
        connection: { application_name: applicationName },
      }),
  };
}

/**
 * Tests of the suite that cannot hold behind a transaction pooler, with the
 * reason; the `pgbouncer_*_test.ts` files cover what each checks where it applies.
 */
const NOT_BEHIND_TRANSACTION_POOLER: Readonly<Record<string, string>> = {
  "notices an idle backend terminated by the server and replaces it":
    "behind a transaction pooler an idle connection holds no backend: terminating one ends a server connection of PgBouncer's, which no client sees",
  "retires a connection whose backend was terminated while in use":
    "outside a transaction the connection holds no backend: the pid it read is back in PgBouncer's pool, so terminating it cannot fail the connection's next statement",
  "fails every waiting caller at once on a wrong password, without retrying":
    "PgBouncer refuses a wrong password with SQLSTATE 08P01, not 28P01 (pgbouncer_failures_test.ts checks that every caller fails at once)",
  "clears settings, temporary tables, listeners and advisory locks on release with resetSession":
    "the pool refuses resetSession with a driver that shares sessions (pgbouncer_pooler_option_test.ts checks the refusal)",
};

/** Whether this runtime has Bun.SQL. */
function onBun(): boolean {
  return typeof (globalThis as { Bun?: { SQL?: unknown } }).Bun?.SQL === "function";
}

/**
 * The postgres.js driver with `pooler: "transaction"` through a real
 * PgBouncer in transaction mode in front of the server; skipped with the
 * reason when PgBouncer cannot run here.
 */
export function pgBouncerTarget(
  server: TestPostgres,
  bouncer: TestPgBouncer | { unavailable: string },
): IntegrationTarget {
  return throughBouncer("postgres.js", server, bouncer, (options) => postgresDriver(options));
}

/**
 * Bun's built-in client, Bun.SQL, with `pooler: "transaction"` through a
 * real PgBouncer in transaction mode in front of the server; skipped with
 * the reason off Bun, or when PgBouncer cannot run here.
 */
export function bunSqlPgBouncerTarget(
  server: TestPostgres,
  bouncer: TestPgBouncer | { unavailable: string },
): IntegrationTarget {
  if (!onBun()) bouncer = { unavailable: "Bun.SQL needs Bun" };
  return throughBouncer("Bun.SQL", server, bouncer, (options) => bunDriver(options));
}

/**
 * node-postgres's `pg.Client` with `pooler: "transaction"` through a real
 * PgBouncer in transaction mode in front of the server; skipped with the
 * reason when PgBouncer cannot run here.
 */
export function pgPgBouncerTarget(
  server: TestPostgres,
  bouncer: TestPgBouncer | { unavailable: string },
): IntegrationTarget {
  // Named short: PgBouncer does not keep an application_name of 63
  // characters whole, which the suite's pool names reach with "node-postgres".
  return throughBouncer("pg", server, bouncer, (options) => pgDriver(options));
}

/** A client's driver with `pooler: "transaction"`, through the bouncer. */
function throughBouncer(
  client: string,
  server: TestPostgres,
  bouncer: TestPgBouncer | { unavailable: string },
  driver: (options: PostgresDriverOptions & BunDriverOptions & PgDriverOptions) => Driver,
): IntegrationTarget {
  const name = `${client} through PgBouncer (transaction mode)`;
  if ("unavailable" in bouncer) {
    return { name, skip: bouncer.unavailable, server, driver: () => assert.fail("skipped") };
  }
  return {
    name,
    server,
    driver: (applicationName, overrides = {}) =>
      driver({
        ...bouncer.options,
        ...overrides,
        pooler: "transaction",
        connection: { application_name: applicationName },
      }),
    // The pool's connections are PgBouncer's clients; its backends are the bouncer's.
    sessions: (_admin, applicationName) => bouncer.clients(applicationName),
    notApplicable: NOT_BEHIND_TRANSACTION_POOLER,
  };
}
