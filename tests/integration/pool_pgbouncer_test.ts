/**
 * The integration suite through a real PgBouncer in transaction mode, in
 * front of a real PostgreSQL, over each driver with `pooler: "transaction"`
 * (Bun.SQL only on Bun). Straight to the server: `pool_postgres_test.ts`.
 */

import { after, describe } from "node:test";
import { integrationSuite } from "./_suite.ts";
import { bunSqlPgBouncerTarget, pgBouncerTarget, pgPgBouncerTarget } from "./_targets.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { pgBouncerUnavailable, startPgBouncer, type TestPgBouncer } from "../support/pgbouncer.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const unavailable = pgBouncerUnavailable();
const bouncer: TestPgBouncer | undefined = unavailable === undefined
  ? await startPgBouncer(server, { poolSize: 10 })
  : undefined;

describe("integration matrix, through PgBouncer", () => {
  after(async () => {
    await bouncer?.close();
    await server.stop();
  });
  const reached = bouncer ?? { unavailable: unavailable! };
  integrationSuite(pgBouncerTarget(server, reached));
  integrationSuite(bunSqlPgBouncerTarget(server, reached));
  integrationSuite(pgPgBouncerTarget(server, reached));
});
