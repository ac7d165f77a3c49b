/**
 * What the driver tests need alike: names to find a test's
 * backends by, and ways to read and wait for what a backend does.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DriverConnection } from "../../src/driver.ts";
import { type Admin, waitFor } from "./postgres.ts";

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
