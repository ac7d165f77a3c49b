/**
 * A server that repeats a connection string in its error, under each
 * driver: given the whole URL as the database name (a likely mistake), the
 * server answers that the database does not exist, naming it; the error the
 * pool gives shows neither the password nor the URL's user info.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, type Driver, PoolError, postgresDriver } from "../../mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { admin, startPostgres } from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const TEST = { timeout: 30_000 };

type Create = (options: Record<string, unknown>) => Driver;
const targets: { name: string; skip: string | undefined; create: Create }[] = [
  { name: "postgres.js", skip: undefined, create: (options) => postgresDriver(options) },
  { name: "pg", skip: undefined, create: (options) => pgDriver(options) },
  {
    name: "Bun.SQL",
    skip: ON_BUN ? undefined : "Bun.SQL needs Bun",
    create: (options) => bunDriver(options),
  },
];

// At the top level, not in before(): Bun gives hooks 5 s, which initdb can take.
const db = await startPostgres();
const sql = admin(db.url);

describe("credentials in the errors of a real PostgreSQL", () => {
  after(async () => {
    await sql.close();
    await db.stop();
  });

  for (const target of targets) {
    const title = `${target.name}: a server error that repeats the URL shows no password${
      target.skip ? ` (skipped: ${target.skip})` : ""
    }`;
    it(title, { ...TEST, skip: target.skip }, async () => {
      const name = uniqueName("x-pool-credentials-test");
      const { password } = db.options;
      const pool = new ConnectionPool({
        driver: target.create({
          ...db.options,
          database: db.url,
          connection: { application_name: name },
        }),
        acquireTimeout: 20_000,
        healthInterval: 0,
      });
      try {
        const error = await pool.getConnection().then(
          () => assert.fail("connected"),
          (error: unknown) => error as Error & { code?: unknown },
        );
        assert.ok(!(error instanceof PoolError), String(error));
        assert.equal(error.code, "3D000", String(error));
        assert.match(error.message, /:\/\/\*\*\*@/, "the server named the database");
        for (const text of [error.message, String(error.stack), JSON.stringify(error)]) {
          // A DATABASE_URL without a password has nothing to hide but its user name.
          assert.ok(password === "" || !text.includes(password), text);
        }
        await assertNoLeaks(pool, { admin: sql, applicationName: name });
      } finally {
        await pool.close();
      }
    });
  }
});
