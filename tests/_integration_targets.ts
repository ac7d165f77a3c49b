/**
 * The targets the shared integration suite (`_integration_suite.ts`) runs
 * over: a driver, and the way to the server it connects through. Each entry
 * of the matrix is one of these; a target that cannot run on this runtime,
 * or a test that does not hold for it, is reported as skipped with the
 * reason, never as passed.
 *
 * @module
 */

import { type Driver, postgresDriver } from "../mod.ts";
import type { Admin, TestPostgres } from "./_postgres.ts";

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
