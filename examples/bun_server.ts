/**
 * The items API on `Bun.serve`, its queries in Kysely over the pool: see
 * `_items_api.ts` for the routes.
 *
 * ```sh
 * DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db PORT=8000 bun examples/bun_server.ts
 * ```
 *
 * Listens on 127.0.0.1 only. SIGINT or SIGTERM stops accepting requests,
 * lets those in flight finish, closes the pool and exits 0.
 */

import process from "node:process";
import type { ConnectionPool } from "../mod.ts";
import { itemsApi, openItemsPool, shutDown } from "./_items_api.ts";

/** The part of Bun's global this server uses; declared here so `deno check` passes too. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request) => Promise<Response>;
  }): { hostname: string; port: number; stop(closeActiveConnections?: boolean): Promise<void> };
}

const bun = (globalThis as unknown as { Bun?: BunServe }).Bun;
if (!bun) {
  console.error("This example needs Bun: bun examples/bun_server.ts");
  process.exit(1);
}
const url = process.env.DATABASE_URL;
if (!url) {
  console.error(
    "DATABASE_URL is not set: give the server to use, e.g.\n" +
      "  DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db bun examples/bun_server.ts",
  );
  process.exit(1);
}
const port = Number(process.env.PORT || 8000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT is not a port number: ${process.env.PORT}`);
  process.exit(1);
}

let pool: ConnectionPool;
try {
  pool = await openItemsPool(url);
} catch (error) {
  console.error(error);
  process.exit(1);
}

const server = bun.serve({ hostname: "127.0.0.1", port, fetch: itemsApi(pool) });
console.log(`listening on http://${server.hostname}:${server.port}`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  await shutDown(signal, () => server.stop(), pool);
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
