/**
 * TLS against a real PostgreSQL, under each driver: `sslmode=require`
 * connects encrypted, `verify-full` with the test CA in `sslrootcert`
 * connects, a wrong CA or a certificate for another host is refused at once
 * (not retried until `acquireTimeout`), and a pool that requires TLS is
 * refused by a server without it, never falling back to plain TCP. The
 * server and certificates are the ones of `tests/support/tls_postgres.ts`.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, type Driver, PoolError, postgresDriver } from "../../mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { type Admin, admin } from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import {
  startTlsPostgres,
  TLS_SKIP,
  tlsFixture,
  type TlsPostgres,
  type TlsServing,
} from "../support/tls_postgres.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const TEST = { timeout: 60_000 };
/** Far longer than a refusal takes: a refusal that waited for it would be a timeout error. */
const ACQUIRE_TIMEOUT_MS = 30_000;
const CA = tlsFixture("ca.crt");
const OTHER_CA = tlsFixture("other_ca.crt");

interface Target {
  name: string;
  skip: string | undefined;
  driver(url: string, applicationName: string): Driver;
}

const targets: Target[] = [
  {
    name: "postgres.js",
    skip: undefined,
    driver: (url, name) => postgresDriver(url, { connection: { application_name: name } }),
  },
  {
    name: "pg",
    skip: undefined,
    driver: (url, name) => pgDriver(url, { connection: { application_name: name } }),
  },
  {
    name: "Bun.SQL",
    skip: ON_BUN ? undefined : "Bun.SQL needs Bun",
    driver: (url, name) => bunDriver(url, { connection: { application_name: name } }),
  },
];

// At the top level, not in before(): Bun gives hooks 5 s, which initdb can take.
const server: TlsPostgres | undefined = TLS_SKIP ? undefined : await startTlsPostgres();
let serving: TlsServing = "tls";
let sql: Admin | undefined = server && admin(server.url);

/** The server serving as `next` says, and an admin connection to it made since. */
async function serve(next: TlsServing): Promise<Admin> {
  if (next !== serving) {
    await sql?.close();
    sql = undefined;
    await server!.serve(next);
    serving = next;
  }
  sql ??= admin(server!.url);
  return sql;
}

/** `server.url` with these query parameters. */
function urlWith(query: string): string {
  return `${server!.url}?${query}`;
}

/** A pool over `target`'s driver to `url`, whose connections carry `name`. */
function poolFor(target: Target, url: string, name: string): ConnectionPool {
  return new ConnectionPool({
    driver: target.driver(url, name),
    maxOpenConns: 2,
    acquireTimeout: ACQUIRE_TIMEOUT_MS,
    healthInterval: 0,
  });
}

/** Whether the connection `pool` lends runs over TLS, as the server sees it. */
async function encrypted(pool: ConnectionPool): Promise<boolean> {
  const { rows } = await pool.execute<{ ssl: boolean }>(
    "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
  );
  return rows[0].ssl;
}

/**
 * The error a pool's first connection fails with, checked to be the
 * driver's own (not the pool's timeout) and to match `expected`; the pool
 * is left with no connection, here or on the server.
 */
async function assertRefused(
  target: Target,
  url: string,
  expected: { code: RegExp; message: RegExp },
  admin: Admin,
): Promise<void> {
  const name = uniqueName("x-pool-tls-test");
  const pool = poolFor(target, url, name);
  try {
    const error = await pool.getConnection().then(
      () => assert.fail("connected"),
      (error: unknown) => error as Error & { code?: unknown },
    );
    assert.ok(!(error instanceof PoolError), `not the pool's own error: ${String(error)}`);
    assert.match(String(error.code), expected.code, String(error));
    assert.match(error.message, expected.message);
    assert.equal(pool.getMetrics().connectErrors, 1, "refused once, not retried");
    await assertNoLeaks(pool, { admin, applicationName: name });
  } finally {
    await pool.close();
  }
}

const SUITE = "TLS against a real PostgreSQL";
describe(TLS_SKIP ? `${SUITE} (skipped: ${TLS_SKIP})` : SUITE, { skip: TLS_SKIP }, () => {
  after(async () => {
    await sql?.close();
    await server?.stop();
  });

  for (const target of targets) {
    const title = `${target.name}${target.skip ? ` (skipped: ${target.skip})` : ""}`;
    describe(title, { skip: target.skip }, () => {
      it("connects encrypted with sslmode=require, as pg_stat_ssl shows", TEST, async () => {
        const admin = await serve("tls");
        const name = uniqueName("x-pool-tls-test");
        const pool = poolFor(target, urlWith("sslmode=require"), name);
        try {
          assert.equal(await encrypted(pool), true);
          await assertNoLeaks(pool, { admin, applicationName: name });
        } finally {
          await pool.close();
        }
      });

      it("connects with verify-full and the test CA given as sslrootcert", TEST, async () => {
        const admin = await serve("tls");
        const name = uniqueName("x-pool-tls-test");
        const pool = poolFor(target, urlWith(`sslmode=verify-full&sslrootcert=${CA}`), name);
        try {
          assert.equal(await encrypted(pool), true);
          await assertNoLeaks(pool, { admin, applicationName: name });
        } finally {
          await pool.close();
        }
      });

      it("refuses a certificate from another CA at once, saying why", TEST, async () => {
        const admin = await serve("tls");
        for (
          const query of [`sslmode=verify-full&sslrootcert=${OTHER_CA}`, "sslmode=verify-full"]
        ) {
          await assertRefused(target, urlWith(query), {
            code: /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/,
            message: /certificate/,
          }, admin);
        }
      });

      it(
        "refuses with verify-full, at once, a certificate for another host name",
        TEST,
        async () => {
          const admin = await serve("wrongHost");
          await assertRefused(target, urlWith(`sslmode=verify-full&sslrootcert=${CA}`), {
            code: /^ERR_TLS_CERT_ALTNAME_INVALID$/,
            message: /altnames/,
          }, admin);
        },
      );

      it("connects with verify-ca to a certificate for another host name", TEST, async () => {
        const admin = await serve("wrongHost");
        const name = uniqueName("x-pool-tls-test");
        const pool = poolFor(target, urlWith(`sslmode=verify-ca&sslrootcert=${CA}`), name);
        try {
          assert.equal(await encrypted(pool), true);
          await assertNoLeaks(pool, { admin, applicationName: name });
        } finally {
          await pool.close();
        }
      });

      it(
        "refuses a server without TLS at once when TLS is required, never using plain TCP",
        TEST,
        async () => {
          const admin = await serve("plain");
          for (const query of ["sslmode=require", `sslmode=verify-full&sslrootcert=${CA}`]) {
            await assertRefused(target, urlWith(query), {
              code: /^TLS_NOT_AVAILABLE$/,
              message: /does not support SSL/,
            }, admin);
          }
        },
      );

      it("connects to a server without TLS over plain TCP with sslmode=prefer", TEST, async () => {
        const admin = await serve("plain");
        const name = uniqueName("x-pool-tls-test");
        const pool = poolFor(target, urlWith("sslmode=prefer"), name);
        try {
          assert.equal(await encrypted(pool), false);
          await assertNoLeaks(pool, { admin, applicationName: name });
        } finally {
          await pool.close();
        }
      });
    });
  }
});
