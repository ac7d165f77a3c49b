/**
 * What the driver tests need alike: names to find a test's
 * backends by, and ways to read and wait for what a backend does.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Driver, DriverConnection } from "../../src/driver.ts";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { type Admin, type ConnectionOptions, waitFor } from "./postgres.ts";

/** Whether this runtime has Bun.SQL. */
export const ON_BUN = typeof (globalThis as { Bun?: { SQL?: unknown } }).Bun?.SQL === "function";

let names = 0;

/** An application_name no other test uses, to find this test's backends. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${++names}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function backendPid(connection: DriverConnection): Promise<number> {
  const { rows } = await connection.query("select pg_backend_pid() as pid", []);
  return rows[0].pid as number;
}

/** Resolves with what `promise` rejects with; fails if it fulfils. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("Expected a rejection");
}

export function codeOf(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

/** Resolves once the backend of `name` is running `text`. */
export function running(sql: Admin, name: string, text: string): Promise<void> {
  return waitFor(`a backend of ${name} running ${text}`, async () => {
    const rows = await sql.query(
      "select 1 from pg_stat_activity where application_name = $1 and state = 'active' and query = $2",
      [name, text],
    );
    return rows.length === 1;
  });
}

/** Resolves once no backend of `name` is left. */
export function noBackends(sql: Admin, name: string): Promise<void> {
  return waitFor(`no backend of ${name}`, async () => (await sql.backends(name)).length === 0);
}

/** One of the three drivers, for a test that runs the same case through each. */
export interface DriverTarget {
  name: "postgres" | "pg" | "bun";
  /** Why it cannot run here: Bun.SQL off Bun. */
  skip?: string;
  /** A driver reaching `server` as `app`, on `port` (a proxy's) when given. */
  driver(app: string, port?: number): Driver;
}

/** postgres.js, node-postgres and Bun.SQL, each reaching the server of `options`. */
export function driverTargets(options: ConnectionOptions): DriverTarget[] {
  const reach = (app: string, port = options.port) => ({
    ...options,
    port,
    connection: { application_name: app },
  });
  return [
    { name: "postgres", driver: (app, port) => postgresDriver(reach(app, port)) },
    { name: "pg", driver: (app, port) => pgDriver(reach(app, port)) },
    {
      name: "bun",
      skip: ON_BUN ? undefined : "Bun.SQL needs Bun",
      driver: (app, port) => bunDriver(reach(app, port)),
    },
  ];
}
