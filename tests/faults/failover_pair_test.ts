/**
 * A plain pool with a multi-host URL through real automatic failovers under
 * pg_auto_failover: a planned one (`pg_autoctl perform failover`) and a crash
 * of the primary (SIGKILL of its keeper and PostgreSQL), both under a steady
 * write load. No write the pool acknowledged is lost, every failed write
 * fails with a typed error in bounded time, writes resume by themselves on
 * the new primary, and the pool ends with no leak there. The longest time
 * without a successful write is printed, for docs/failover.md.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { admin, waitFor } from "../support/postgres.ts";
import { assertNoLeaks } from "../support/leak_check.ts";
import {
  autoFailoverUnavailable,
  type FailoverNode,
  type FailoverPair,
  startFailoverPair,
} from "../support/auto_failover.ts";
import { longestGap, startWriteLoad, TABLE, WRITE_TIMEOUT } from "./_failover_load.ts";

const SKIP = autoFailoverUnavailable();
const SLOW = { timeout: 90_000 };
const ACQUIRE_TIMEOUT = 5_000;
const CALLERS = 20;

// Started here rather than in before(): Bun gives hooks 5 s, and the pair takes longer.
const pair: FailoverPair | undefined = SKIP === undefined ? await startFailoverPair() : undefined;
if (pair !== undefined) {
  const db = admin((await pair.settled()).primary.url);
  try {
    await db.query(`create table ${TABLE} (n bigint primary key)`);
  } finally {
    await db.close();
  }
}

let phase = 0;

/**
 * Runs the write load through `fault`, which resolves with the new primary
 * once the monitor has promoted it, and checks what the pool did.
 */
async function rideThrough(label: string, fault: () => Promise<FailoverNode>): Promise<void> {
  const app = `x-pool-failover-${++phase}`;
  const pool = new ConnectionPool({
    driver: postgresDriver(`${pair!.hosts}?target_session_attrs=read-write`, {
      connection: { application_name: app },
      connect_timeout: 2,
    }),
    maxOpenConns: 8,
    acquireTimeout: ACQUIRE_TIMEOUT,
    connectTimeout: 4_000,
  });
  const load = startWriteLoad(pool, CALLERS, phase * 10_000_000);
  let stopped = false;
  try {
    await waitFor("writes to flow", () => load.successes.length >= CALLERS, 30_000);
    const faultAt = Date.now();
    const primary = await fault();
    const promotedAt = Date.now();
    await waitFor(
      "writes to resume on the new primary",
      () => load.successes.filter((at) => at > promotedAt).length >= CALLERS,
      30_000,
    );
    await load.stop();
    stopped = true;
    const gap = longestGap(load.successes, faultAt);
    console.log(
      `${label}: longest gap without a successful write ${gap} ms; ` +
        `${load.acknowledged.size} writes acknowledged, ${load.failed.length} failed; ` +
        `promoted after ${promotedAt - faultAt} ms`,
    );

    const db = admin(primary.url);
    try {
      const rows = await db.query<{ n: string }>(
        `select n::text from ${TABLE} where n >= $1 and n < $2`,
        [phase * 10_000_000, (phase + 1) * 10_000_000],
      );
      const stored = new Set(rows.map((row) => Number(row.n)));
      const lost = [...load.acknowledged].filter((n) => !stored.has(n));
      assert.deepEqual(lost, [], "every acknowledged write is on the new primary");

      // Typed: an error of the pool's or the server's, with its code; bounded by the timeouts.
      const bound = ACQUIRE_TIMEOUT + 2 * WRITE_TIMEOUT + 5_000;
      for (const { error, ms } of load.failed) {
        const code = (error as { code?: unknown }).code;
        assert.equal(typeof code, "string", `an untyped failure: ${error}`);
        assert.ok(ms <= bound, `a write failed after ${ms} ms (${code}), past ${bound} ms`);
      }
      await assertNoLeaks(pool, { admin: db, applicationName: app, deadlineMs: 10_000 });
    } finally {
      await db.close();
    }
  } finally {
    if (!stopped) await load.stop();
    await pool.close();
  }
}

describe(
  `a pool with a multi-host URL through pg_auto_failover failovers${
    SKIP ? ` (skipped: ${SKIP})` : ""
  }`,
  { skip: SKIP },
  () => {
    after(async () => {
      await pair?.stop();
    });

    it("rides through a planned failover with no acknowledged write lost", SLOW, async () => {
      await rideThrough("planned failover", async () => {
        const { secondary } = await pair!.settled();
        await pair!.performFailover();
        await pair!.promoted(secondary);
        return secondary;
      });
    });

    it("rides through a crash of the primary with no acknowledged write lost", SLOW, async () => {
      const { primary: crashed, secondary } = await pair!.settled();
      await rideThrough("crash of the primary", async () => {
        pair!.crash(crashed);
        await pair!.promoted(secondary);
        return secondary;
      });
      // The crashed node rejoins as a standby by itself once it runs again.
      pair!.restart(crashed);
      const { secondary: rejoined } = await pair!.settled();
      assert.equal(rejoined.name, crashed.name);
    });
  },
);
