/**
 * The postgres.js driver's `pooler` option, which the tests behind a real
 * PgBouncer use: what it accepts, and what it makes the pool refuse.
 *
 * @module
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { startPostgres } from "../support/postgres.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server = await startPostgres();
after(() => server.stop());

describe("pooler option", () => {
  it("refuses a pooler other than transaction, naming the option and the value", () => {
    for (const value of ["statement", "session", "TRANSACTION", 1]) {
      assert.throws(
        () => postgresDriver(server.url, { pooler: value as "transaction" }),
        (error: Error) =>
          error instanceof TypeError && error.message.includes("pooler") &&
          error.message.includes(typeof value === "string" ? `"${value}"` : String(value)),
      );
    }
  });

  it("makes the pool refuse resetSession, which would reach another backend", () => {
    const driver = postgresDriver(server.url, { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    assert.throws(
      () => new ConnectionPool({ driver, resetSession: true }),
      (error: Error) => error instanceof TypeError && /resetSession \(true\)/.test(error.message),
    );
    const direct = postgresDriver(server.url);
    assert.notEqual(direct.sharesSessions, true);
    return new ConnectionPool({ driver: direct, resetSession: true }).close();
  });

  it("refuses discard() on a connection made for a pooler", async () => {
    const connection = await postgresDriver(server.url, { pooler: "transaction" }).connect(
      AbortSignal.timeout(10_000),
    );
    try {
      await assert.rejects(connection.discard!(), TypeError);
    } finally {
      await connection.close();
    }
  });
});
