/**
 * The zero-leak check that ends every fault test.
 *
 * Unhandled rejections and uncaught errors need no watcher here: `deno test`
 * and `bun test` both fail the running test on one, before any
 * `process.on("unhandledRejection")` or `unhandledrejection` listener of the
 * test could see it (checked with Deno 2.9 and Bun 1.4).
 *
 * @module
 */

import type { ConnectionPool } from "../../mod.ts";
import type { Admin } from "./postgres.ts";
import type { FaultProxy } from "./fault_proxy.ts";

/** What {@linkcode assertNoLeaks} compares the pool with. */
export interface LeakCheckOptions {
  /** A connection to the same server, not through the proxy. */
  admin: Admin;
  /** The `application_name` of the pool's connections. */
  applicationName: string;
  /** The proxy the pool connects through, if any; heal it first. */
  proxy?: FaultProxy;
  /** Milliseconds to wait for the state to settle. Default 5000. */
  deadlineMs?: number;
}

/**
 * Resolves once, within `deadlineMs`: no connection is in use, the pool's
 * open connections are exactly its backends on the server, none of those is
 * `idle in transaction`, and the proxy has no more pairs than open
 * connections. Otherwise rejects with the last state seen.
 */
export async function assertNoLeaks(
  pool: ConnectionPool,
  { admin, applicationName, proxy, deadlineMs = 5_000 }: LeakCheckOptions,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let last = "";
  while (true) {
    const { inUse, openConnections } = pool.getMetrics();
    const states = (await admin.query<{ state: string | null }>(
      "select state from pg_stat_activity where application_name = $1",
      [applicationName],
    )).map((row) => row.state);
    const pairs = proxy?.pairs.length ?? 0;
    const problems = [
      inUse !== 0 && `${inUse} in use`,
      states.length !== openConnections &&
      `${openConnections} open but ${states.length} backends`,
      states.includes("idle in transaction") && "a backend idle in transaction",
      pairs > openConnections && `${pairs} proxy pairs for ${openConnections} open`,
    ].filter(Boolean);
    if (problems.length === 0) return;
    last = `${problems.join(", ")} (backend states: ${JSON.stringify(states)})`;
    if (Date.now() > deadline) {
      throw new Error(`Leak after ${deadlineMs} ms: ${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
