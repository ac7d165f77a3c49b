/**
 * The driver contract (src/driver.ts) as one suite over the three drivers:
 * each test file starts one PostgreSQL and defines, per driver, a suite
 * whose shared tests read what really differs between the drivers from the
 * driver's description below (docs/drivers.md, "How the drivers differ").
 * The Bun.SQL driver's tests are reported skipped off Bun, with the reason.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import type { Driver, DriverConnection } from "../../src/driver.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { codeOf, uniqueName } from "../support/driver_helpers.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

/**
 * What the suite needs of one driver, and how it differs from the others.
 *
 * @example
 * ```ts
 * if (target.undefinedParameter === "null") assert.deepEqual(rows, [{ n: null }]);
 * ```
 */
export interface DriverTarget {
  id: "postgres" | "bun" | "pg";
  /** The suite's title, before any skip reason. */
  title: string;
  /** Why the driver cannot run on this runtime, if it cannot. */
  skip?: string;
  /** The prefix of the `application_name` of the tests' connections. */
  prefix: string;
  /** The driver's factory, as `postgresDriver(urlOrOptions, options)`. */
  make(urlOrOptions: string | object, options?: object): Driver;
  /** A driver that records each statement it sends, where the client can tell. */
  traced?(url: string, name: string): { driver: Driver; sent: string[] };
  /** An `undefined` parameter: sent as NULL, or refused with this code. */
  undefinedParameter: "null" | "UNDEFINED_VALUE";
  /** A parameter the client refuses, with a TypeError, before sending. */
  unsendable?: () => unknown;
  /**
   * A query without parameters holding several statements: refused by the
   * server (42601), or run, returning the last one's result.
   */
  severalStatements: "42601" | "last";
  /** `dirty` after each text of several statements, run in turn (drivers that run them). */
  severalStatementsDirty: [string, boolean][];
  /** Asserts the driver's own fields of a database error (SQLSTATE 22012). */
  databaseError(error: unknown): void;
  /** The code, and the code of the cause, of the error a terminated backend closes with. */
  terminatedClose: { code?: string; causeCode?: string };
  /**
   * What a statement running when its backend is terminated rejects with:
   * the server's 57P01, or (postgres.js) the closed connection's code.
   */
  terminatedStatement: "57P01" | "CONNECTION_CLOSED";
  /** The code a connect past `connect_timeout` rejects with, where it has one. */
  connectTimeoutCode?: string;
  /**
   * A connect aborted in flight: the socket closes at once, or (postgres.js)
   * only once the server's handshake ends.
   */
  abortedConnectCloses: "at once" | "after the handshake";
  /**
   * An abort racing a statement's end: the connection is kept, or may be
   * closed (Bun cannot tell when its cancel request arrived).
   */
  racingAbort: "keeps" | "may close";
  /** Whether the server's notices reach an `onnotice` option (Bun.SQL has no notice callback). */
  onnotice: boolean;
  /** Calls of the factory that must throw, and what they throw. */
  refused(url: string): [() => unknown, RegExp | (new (...args: never[]) => Error)][];
}

const sent = (log: string[]) => (_id: number, text: string) => log.push(text);

/**
 * The three drivers, as the contract suite sees them.
 *
 * @example
 * ```ts
 * const pgTarget = TARGETS.find((target) => target.id === "pg")!;
 * ```
 */
export const TARGETS: DriverTarget[] = [
  {
    id: "postgres",
    title: "postgresDriver against a real PostgreSQL",
    prefix: "x-pool-driver-test",
    make: (urlOrOptions, options) => postgresDriver(urlOrOptions as string, options as never),
    traced(url, name) {
      const log: string[] = [];
      const driver = postgresDriver(url, {
        connection: { application_name: name },
        debug: sent(log),
      });
      return { driver, sent: log };
    },
    undefinedParameter: "UNDEFINED_VALUE",
    severalStatements: "42601",
    severalStatementsDirty: [],
    databaseError: (error) => assert.equal((error as Error).name, "PostgresError"),
    terminatedClose: {},
    terminatedStatement: "CONNECTION_CLOSED",
    connectTimeoutCode: "CONNECT_TIMEOUT",
    abortedConnectCloses: "after the handshake",
    racingAbort: "keeps",
    onnotice: true,
    refused: (url) => [
      [() => postgresDriver(url, { max_lifetime: 60 } as never), TypeError],
      [() => postgresDriver({ host: "localhost", database: "x" }), TypeError],
      [() => postgresDriver({ username: "x", port: 70_000 }), RangeError],
    ],
  },
  {
    id: "bun",
    title: "bunDriver against a real PostgreSQL",
    skip: ON_BUN ? undefined : "Bun.SQL needs Bun",
    prefix: "x-pool-bun-test",
    make: (urlOrOptions, options) => bunDriver(urlOrOptions as string, options as never),
    undefinedParameter: "null",
    unsendable: () => Symbol("no"),
    severalStatements: "last",
    severalStatementsDirty: [
      ["begin; select 1", true],
      // Bun cannot tell: a COMMIT among several statements counts as doubtful.
      ["commit; select 1", true],
    ],
    databaseError(error) {
      assert.equal((error as { bunCode?: unknown }).bunCode, "ERR_POSTGRES_SERVER_ERROR");
      assert.equal((error as { severity?: unknown }).severity, "ERROR");
    },
    terminatedClose: { code: "CONNECTION_CLOSED", causeCode: "57P01" },
    terminatedStatement: "57P01",
    connectTimeoutCode: "CONNECT_TIMEOUT",
    abortedConnectCloses: "at once",
    racingAbort: "may close",
    onnotice: false,
    refused: (url) => [
      [() => bunDriver(url, { max: 2 } as never), TypeError],
      [() => bunDriver(url, { idleTimeout: 2 } as never), TypeError],
      [() => bunDriver({ host: "localhost", database: "x" }), TypeError],
      [() => bunDriver({ username: "x", port: 70_000 }), /port \(70000\)/],
      [() => bunDriver({ username: "x", connect_timeout: 0 }), RangeError],
      [() => bunDriver("postgres://x@a,b/db?target_session_attrs=main"), RangeError],
      [() => bunDriver("mysql://x@a/db"), TypeError],
    ],
  },
  {
    id: "pg",
    title: "pgDriver against a real PostgreSQL",
    prefix: "x-pool-pg-test",
    make: (urlOrOptions, options) => pgDriver(urlOrOptions as string, options as never),
    undefinedParameter: "null",
    unsendable() {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      return circular;
    },
    severalStatements: "last",
    // node-postgres follows the server's transaction status.
    severalStatementsDirty: [
      ["begin; select 1; commit", false],
      ["select 1; begin", true],
      ["rollback", false],
    ],
    databaseError: (error) => assert.ok(error instanceof pg.DatabaseError),
    terminatedClose: { causeCode: "57P01" },
    terminatedStatement: "57P01",
    abortedConnectCloses: "at once",
    racingAbort: "keeps",
    onnotice: true,
    refused: (url) => [
      ...([
        [{ connectionString: url }, /"connectionString"/],
        [{ query_timeout: 1000 }, /"query_timeout"/],
        [{ pipeline: true }, /"pipeline"/],
        [{ connectionTimeoutMillis: 1000 }, /"connectionTimeoutMillis".*connect_timeout/],
        [{ keepAlive: true }, /"keepAlive".*keep_alive/],
        [{ application_name: "x" }, /"application_name".*connection: \{ application_name \}/],
        [{ pooler: "session" }, /pooler/],
      ] as const).map(([options, message]) =>
        [() => pgDriver(url, options as never), message] as [() => unknown, RegExp]
      ),
      [() => pgDriver({ host: "localhost", database: "x" }), TypeError],
      [() => pgDriver({ username: "x", port: 70_000 }), RangeError],
      [() => pgDriver({ username: "x", connect_timeout: 0 }), RangeError],
      [() => pgDriver({ username: "x", ssl: "sometimes" as "require" }), RangeError],
      [
        () => pgDriver("postgres://x@a:1,b:2/db?target_session_attrs=main"),
        /target_session_attrs \("main"\)/,
      ],
    ],
  },
];

/**
 * One driver's suite, as its tests reach the server and the driver.
 *
 * @example
 * ```ts
 * forEachDriver(({ test, open }) => test("pings", async () => (await open()).ping()));
 * ```
 */
export interface DriverSuite {
  target: DriverTarget;
  /** Defines one test, reported as skipped with the reason where the driver cannot run. */
  test(name: string, fn: () => void | Promise<void>): void;
  /** The server and admin connection; only called from tests that run. */
  server(): { db: TestPostgres; sql: Admin };
  /** A driver to the server whose connections carry `name` as their `application_name`. */
  driverFor(name: string, options?: object): Driver;
  /** A connection to the server, named `name`. */
  open(name?: string): Promise<DriverConnection>;
  /** A fresh `application_name` for this driver's connections. */
  name(): string;
}

const TEST = { timeout: 30_000 };

/**
 * Starts one PostgreSQL for a test file (at the top level: Bun gives hooks
 * 5 s, which initdb can take) and returns a function that defines the
 * file's suite once per driver; the server stops after them all.
 *
 * @example
 * ```ts
 * const forEachDriver = await startDriverContract();
 * forEachDriver(({ test, open }) => test("pings", async () => (await open()).ping()));
 * ```
 */
export async function startDriverContract(): Promise<(body: (suite: DriverSuite) => void) => void> {
  const db = await startPostgres();
  const sql = admin(db.url);
  after(async () => {
    await sql.close();
    await db.stop();
  });
  return (body) => {
    for (const target of TARGETS) {
      const driverFor = (name: string, options: object = {}) =>
        target.make(db.url, { connection: { application_name: name }, ...options });
      const title = target.skip === undefined
        ? target.title
        : `${target.title} (skipped: ${target.skip})`;
      describe(title, { skip: target.skip }, () => {
        body({
          target,
          test(name, fn) {
            if (target.skip !== undefined) it(name, { skip: target.skip }, fn);
            else it(name, TEST, fn);
          },
          server: () => ({ db, sql }),
          driverFor,
          open: (name = uniqueName(target.prefix)) =>
            driverFor(name).connect(AbortSignal.timeout(10_000)),
          name: () => uniqueName(target.prefix),
        });
      });
    }
  };
}

/**
 * Asserts that `error` is what a closed connection rejects a call with.
 *
 * @example
 * ```ts
 * assertClosedError(await rejection(connection.query("select 1", [])));
 * ```
 */
export function assertClosedError(error: unknown): void {
  assert.equal(codeOf(error), "CONNECTION_CLOSED");
  assert.match((error as Error).message, /the connection is closed/);
}

/**
 * Resolves after `ms` milliseconds: time for a reconnect, which must not
 * happen, to show.
 *
 * @example
 * ```ts
 * await sleep(200);
 * ```
 */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
