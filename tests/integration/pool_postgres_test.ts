/**
 * The integration suite straight to one real PostgreSQL, over each driver.
 * Through PgBouncer: `pool_pgbouncer_test.ts`.
 */

import { after, describe } from "node:test";
import { integrationSuite } from "./_suite.ts";
import { bunSqlTarget, pgTarget, postgresJsTarget } from "./_targets.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();

describe("integration matrix, straight to the server", () => {
  after(() => server.stop());
  integrationSuite(postgresJsTarget(server));
  integrationSuite(bunSqlTarget(server));
  integrationSuite(pgTarget(server));
});
