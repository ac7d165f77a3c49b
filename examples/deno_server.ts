/**
 * The items API on `Deno.serve`, its queries in Kysely over the pool: see
 * `_items_api.ts` for the routes.
 *
 * ```sh
 * DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db PORT=8000 deno run -A examples/deno_server.ts
 * ```
 *
 * Listens on 127.0.0.1 only. SIGINT or SIGTERM stops accepting requests,
 * lets those in flight finish, closes the pool and exits 0.
 */

import type { ConnectionPool } from "../mod.ts";
import { itemsApi, openItemsPool, shutDown } from "./_items_api.ts";

const url = Deno.env.get("DATABASE_URL");
if (!url) {
  console.error(
    "DATABASE_URL is not set: give the server to use, e.g.\n" +
      "  DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db deno run -A examples/deno_server.ts",
  );
  Deno.exit(1);
}
const port = Number(Deno.env.get("PORT") || 8000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT is not a port number: ${Deno.env.get("PORT")}`);
  Deno.exit(1);
}

let pool: ConnectionPool;
try {
  pool = await openItemsPool(url);
} catch (error) {
  console.error(error);
  Deno.exit(1);
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, itemsApi(pool));

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  await shutDown(signal, () => server.shutdown(), pool);
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
