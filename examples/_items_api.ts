/**
 * The routes both example servers share: a small JSON API over one table,
 * with its queries written in Kysely over the pool (`@x/pool/kysely`), plus
 * the pool's metrics. Runtime-neutral: a pool in, a `Request` to `Response`
 * handler out.
 *
 * - `GET /items`: up to 1000 items, oldest first, as `{ items: Item[] }`.
 * - `POST /items` with `{ "name": string }`: 201 and the new item.
 * - `GET /items/:id`: the item, or 404.
 * - `GET /metrics`, `GET /metrics.json`: the pool's metrics, Kysely's queries included.
 *
 * Bad input is a 400, an unknown route a 404, another method a 405, each
 * with a JSON `{ error }` body.
 *
 * @module
 */

import { type Generated, Kysely, type Selectable, sql } from "kysely";
import { ConnectionPool, postgresDriver } from "../mod.ts";
import { PoolDialect } from "../src/kysely/mod.ts";
import { metricsHandler } from "../src/metrics/mod.ts";

/** The tables the API uses, as Kysely types them. */
interface Database {
  example_items: { id: Generated<number>; name: string; created_at: Generated<Date> };
}

/** One row of `example_items`, as the API returns it. */
export interface Item {
  id: number;
  name: string;
  createdAt: string;
}

const MAX_NAME_LENGTH = 200;
const MAX_ID = 2 ** 31 - 1;

/** A Kysely whose queries take their connections from `pool`; the pool stays the caller's. */
function kysely(pool: ConnectionPool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PoolDialect({ pool }) });
}

/**
 * Opens the servers' pool at `url` and creates the table the API serves if
 * it does not exist yet; closes the pool again if that fails.
 */
export async function openItemsPool(url: string): Promise<ConnectionPool> {
  const pool = new ConnectionPool({
    driver: postgresDriver(url),
    name: "items",
    maxOpenConns: 10,
    onError: (error, event) => console.error(`pool ${event}:`, error),
  });
  try {
    await kysely(pool).schema.createTable("example_items").ifNotExists()
      .addColumn("id", "serial", (column) => column.primaryKey())
      .addColumn("name", "text", (column) => column.notNull())
      .addColumn("created_at", "timestamptz", (column) => column.notNull().defaultTo(sql`now()`))
      .execute();
  } catch (error) {
    await pool.close();
    throw new Error("Cannot create table example_items", { cause: error });
  }
  return pool;
}

/** How long requests in flight get to finish on shutdown, in milliseconds. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Stops a server, giving requests in flight up to 10 s, then closes the pool:
 * what both servers do on SIGINT and SIGTERM before they exit.
 */
export async function shutDown(
  signal: string,
  stopServer: () => Promise<unknown>,
  pool: ConnectionPool,
): Promise<void> {
  console.log(`${signal}: shutting down`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise((resolve) => timer = setTimeout(resolve, SHUTDOWN_GRACE_MS));
  await Promise.race([stopServer(), grace]);
  clearTimeout(timer);
  await pool.close();
  console.log("closed");
}

/** Makes the request handler for the items API and the metrics of `pool`. */
export function itemsApi(pool: ConnectionPool): (request: Request) => Promise<Response> {
  const metrics = metricsHandler(pool);
  const db = kysely(pool);
  const items = () => db.selectFrom("example_items").select(["id", "name", "created_at"]);

  async function route(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/metrics" || pathname === "/metrics.json") return metrics(request);
    if (pathname === "/items") {
      if (request.method === "GET") {
        const rows = await items().orderBy("id").limit(1000).execute();
        return Response.json({ items: rows.map(toItem) });
      }
      if (request.method === "POST") {
        const name = await readName(request);
        if (typeof name !== "string") return name;
        const item = toItem(
          await db.insertInto("example_items").values({ name })
            .returning(["id", "name", "created_at"]).executeTakeFirstOrThrow(),
        );
        return Response.json(item, { status: 201, headers: { location: `/items/${item.id}` } });
      }
      return methodNotAllowed("GET, POST");
    }
    const match = /^\/items\/([^/]+)$/.exec(pathname);
    if (match) {
      if (request.method !== "GET") return methodNotAllowed("GET");
      const id = /^[0-9]{1,10}$/.test(match[1]) ? Number(match[1]) : NaN;
      if (!(id >= 1 && id <= MAX_ID)) {
        return error(400, `Invalid id: ${JSON.stringify(match[1])} is not a positive integer`);
      }
      const row = await items().where("id", "=", id).executeTakeFirst();
      return row ? Response.json(toItem(row)) : error(404, `No item with id ${id}`);
    }
    return error(404, `No route for ${request.method} ${pathname}`);
  }

  return async (request) => {
    try {
      return await route(request);
    } catch (cause) {
      console.error(`${request.method} ${new URL(request.url).pathname} failed:`, cause);
      return error(500, "Internal error");
    }
  };
}

function toItem(row: Selectable<Database["example_items"]>): Item {
  return { id: row.id, name: row.name, createdAt: row.created_at.toISOString() };
}

/** The `name` of a POST body, or the 400 response that explains what is wrong with it. */
async function readName(request: Request): Promise<string | Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return error(400, "Invalid body: expected JSON");
  }
  const name = (body as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || name.trim() === "") {
    return error(400, 'Invalid body: expected { "name": a non-empty string }');
  }
  if (name.length > MAX_NAME_LENGTH) {
    return error(400, `Invalid name: longer than ${MAX_NAME_LENGTH} characters`);
  }
  return name;
}

function error(status: number, message: string, headers?: HeadersInit): Response {
  return Response.json({ error: message }, { status, headers });
}

function methodNotAllowed(allow: string): Response {
  return error(405, `Method not allowed; use ${allow}`, { allow });
}
