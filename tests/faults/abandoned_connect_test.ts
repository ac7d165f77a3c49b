/**
 * Connects the pool gave up on, against a real PostgreSQL behind a proxy that
 * accepts the socket at once but delivers the server's answers late: each
 * driver destroys the socket of an attempt at the pool's connect deadline,
 * so the sockets never outnumber `maxOpenConns`, and `close()` ends every
 * attempt, so the process exits at once rather than at the driver's own
 * 30 s connect timeout.
 */

import { after, afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { ConnectionPool } from "../../mod.ts";
import { type Admin, admin, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault_proxy.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import { driverTargets } from "../support/driver_helpers.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db: Admin = admin(server.url);
const fixture = new URL("../integration/fixtures/close_while_connecting.ts", import.meta.url)
  .pathname;
/** Far below the drivers' own 30 s connect timeout, far above a prompt exit. */
const EXIT_DEADLINE_MS = 10_000;
/** How late the proxy delivers the server's answers. */
const LATE_MS = 1_500;

const targets = driverTargets(server.options);

let proxy: FaultProxy;
let count = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The proxy's connections whose client side (the driver's socket) is still open. */
function liveSockets(): number {
  return proxy.pairs.filter((pair) => !pair.client.destroyed).length;
}

function runFixture(driver: string): Promise<{ output: string; timedOut: boolean }> {
  const isDeno = "Deno" in globalThis;
  const { username, password, database } = server.options;
  const child = spawn(process.execPath, isDeno ? ["run", "-A", fixture] : [fixture], {
    env: {
      ...process.env,
      DATABASE_URL: `postgres://${username}:${password}@127.0.0.1:${proxy.port}/${database}`,
      DRIVER: driver,
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ output, timedOut: true });
    }, EXIT_DEADLINE_MS);
    child.on("close", () => {
      clearTimeout(timer);
      resolve({ output, timedOut: false });
    });
  });
}

describe("abandoned connects", () => {
  beforeEach(async () => {
    proxy = await startFaultProxy(server.options);
  });

  afterEach(() => proxy.close());

  after(async () => {
    await db.close();
    await server.stop();
  });

  for (const target of targets) {
    const skipped = target.skip === undefined ? "" : ` (skipped: ${target.skip})`;
    it(
      `destroys each attempt at connectTimeout, so its sockets never outnumber maxOpenConns (${target.name})${skipped}`,
      {
        skip: target.skip,
        timeout: 30_000,
      },
      async () => {
        proxy.set({ mode: "pass", delay: { down: LATE_MS } });
        const app = `x-pool-abandoned-${++count}`;
        const pool = new ConnectionPool({
          driver: target.driver(app, proxy.port),
          maxOpenConns: 2,
          connectTimeout: 300,
          acquireTimeout: 2_000,
          // Connects keep timing out with none open: the breaker would refuse the calls that
          // count the sockets, and the statement after the heal until its next probe.
          breakerThreshold: 0,
        });
        try {
          const waits = Array.from({ length: 4 }, () => pool.getConnection().catch((e) => e));
          let most = 0;
          const until = Date.now() + 2_500;
          while (Date.now() < until) {
            most = Math.max(most, liveSockets());
            await sleep(10);
          }
          await Promise.all(waits);
          assert.ok(proxy.accepted >= 4, `${proxy.accepted} connects: the pool retried`);
          assert.ok(most <= 2, `${most} sockets open at once for maxOpenConns 2`);
          proxy.set({ mode: "pass" });
          await pool.execute("select 1");
          await assertNoLeaks(pool, { admin: db, applicationName: app, proxy });
        } finally {
          await pool.close();
        }
      },
    );

    it(`ends every attempt on close(), so the process exits at once (${target.name})${skipped}`, {
      skip: target.skip,
      timeout: 30_000,
    }, async () => {
      proxy.set({ mode: "pass", delay: { down: 60_000 } });
      const exit = await runFixture(target.name);
      assert.equal(exit.timedOut, false, `the process was still running:\n${exit.output}`);
      assert.match(exit.output, /connecting 2/);
      assert.match(exit.output, /closed/);
    });
  }
});
