/**
 * A plain pool with a multi-host URL through real automatic failovers under
 * pg_auto_failover: a planned one (`pg_autoctl perform failover`) and a crash
 * of the primary (SIGKILL of its keeper and PostgreSQL), both under a steady
 * write load. No write the pool acknowledged is lost, every failed write
 * fails with a typed error in bounded time, writes resume by themselves on
 * the new primary, and the pool ends with no leak there. A ClusterPool over
 * both nodes, given without roles, rides through alongside: its writes
 * follow the promotion, and its reads go on from whichever node is a
 * standby. The longest time without a successful write is printed, for
 * docs/failover.md.
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
import { ClusterPool } from "../../src/cluster/mod.ts";
import {
  clusterWrite,
  longestGap,
  poolWrite,
  type ReadLoad,
  startReadLoad,
  startWriteLoad,
  TABLE,
  WRITE_TIMEOUT,
} from "./_failover_load.ts";

const SKIP = autoFailoverUnavailable();
const SLOW = { timeout: 90_000 };
const ACQUIRE_TIMEOUT = 5_000;
const CALLERS = 20;
const CLUSTER_CALLERS = 4;

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

/** What a phase leaves running for its test to check further: the cluster and its readers. */
interface Phase {
  cluster: ClusterPool;
  reads: ReadLoad;
  /** When the new primary was promoted (`Date.now()`). */
  promotedAt: number;
  close(): Promise<void>;
}

/**
 * Runs the write load through `fault`, which resolves with the new primary
 * once the monitor has promoted it, and checks what the pool did. A
 * ClusterPool over both nodes, given without roles, takes writes and reads
 * alongside, and is checked the same way.
 */
async function rideThrough(label: string, fault: () => Promise<FailoverNode>): Promise<Phase> {
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
  const cluster = new ClusterPool({
    members: pair!.nodes.map((node) =>
      new ConnectionPool({
        driver: postgresDriver(node.url, {
          connection: { application_name: `${app}-${node.name}` },
          connect_timeout: 2,
        }),
        name: node.name,
        maxOpenConns: 4,
        acquireTimeout: ACQUIRE_TIMEOUT,
        connectTimeout: 4_000,
      })
    ),
    healthInterval: 500,
    probeTimeout: 1_000,
  });
  const base = phase * 10_000_000;
  const loads = {
    pool: startWriteLoad(poolWrite(pool), CALLERS, base),
    cluster: startWriteLoad(clusterWrite(cluster), CLUSTER_CALLERS, base + 5_000_000),
  };
  const reads = startReadLoad(cluster, 2);
  const stopLoads = () => Promise.all(Object.values(loads).map((load) => load.stop()));
  let stopped = false;
  let promotedAt = 0;
  try {
    await waitFor(
      "writes to flow",
      () => Object.values(loads).every((load) => load.successes.length >= CLUSTER_CALLERS),
      30_000,
    );
    const faultAt = Date.now();
    const primary = await fault();
    promotedAt = Date.now();
    await waitFor(
      "writes to resume on the new primary, through the pool and the cluster",
      () =>
        Object.values(loads).every((load) =>
          load.successes.filter((at) => at > promotedAt).length >= CLUSTER_CALLERS
        ),
      30_000,
    );
    await stopLoads();
    stopped = true;
    assert.equal(cluster.members()[0].name, primary.name, "the cluster follows the promotion");
    for (const [name, load] of Object.entries(loads)) {
      console.log(
        `${label}, ${name}: longest gap without a successful write ` +
          `${longestGap(load.successes, faultAt)} ms; ${load.acknowledged.size} writes ` +
          `acknowledged, ${load.failed.length} failed; promoted after ${promotedAt - faultAt} ms`,
      );
    }

    const db = admin(primary.url);
    try {
      const rows = await db.query<{ n: string }>(
        `select n::text from ${TABLE} where n >= $1 and n < $2`,
        [base, base + 10_000_000],
      );
      const stored = new Set(rows.map((row) => Number(row.n)));
      // Typed: an error of the pool's, the cluster's or the server's, with its code; bounded.
      const bound = ACQUIRE_TIMEOUT + 2 * WRITE_TIMEOUT + 5_000;
      for (const load of Object.values(loads)) {
        const lost = [...load.acknowledged].filter((n) => !stored.has(n));
        assert.deepEqual(lost, [], "every acknowledged write is on the new primary");
        for (const { error, ms } of load.failed) {
          const code = (error as { code?: unknown }).code;
          assert.equal(typeof code, "string", `an untyped failure: ${error}`);
          assert.ok(ms <= bound, `a write failed after ${ms} ms (${code}), past ${bound} ms`);
        }
      }
      await assertNoLeaks(pool, { admin: db, applicationName: app, deadlineMs: 10_000 });
      const onPrimary = cluster.members().find((member) => member.name === primary.name)!;
      await assertNoLeaks(onPrimary.pool, {
        admin: db,
        applicationName: `${app}-${primary.name}`,
        deadlineMs: 10_000,
      });
    } finally {
      await db.close();
    }
  } catch (error) {
    if (!stopped) await stopLoads();
    await reads.stop();
    await cluster.close();
    throw error;
  } finally {
    await pool.close();
  }
  return {
    cluster,
    reads,
    promotedAt,
    close: async () => {
      await reads.stop();
      await cluster.close();
    },
  };
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
      const phase = await rideThrough("planned failover", async () => {
        const { secondary } = await pair!.settled();
        await pair!.performFailover();
        await pair!.promoted(secondary);
        return secondary;
      });
      try {
        // The demoted primary comes back as a standby, and the cluster reads from it.
        await waitFor(
          "a read from the new standby",
          () => phase.reads.fromStandby.some((at) => at > phase.promotedAt),
          30_000,
        );
      } finally {
        await phase.close();
      }
    });

    it("rides through a crash of the primary with no acknowledged write lost", SLOW, async () => {
      const { primary: crashed, secondary } = await pair!.settled();
      const phase = await rideThrough("crash of the primary", async () => {
        pair!.crash(crashed);
        await pair!.promoted(secondary);
        return secondary;
      });
      try {
        // The crashed node rejoins as a standby by itself once it runs again; the cluster reads from it.
        pair!.restart(crashed);
        const { secondary: rejoined } = await pair!.settled();
        assert.equal(rejoined.name, crashed.name);
        const since = Date.now();
        await waitFor(
          "a read from the rejoined standby",
          () => phase.reads.fromStandby.some((at) => at > since),
          30_000,
        );
        const member = phase.cluster.members().find((each) => each.name === crashed.name)!;
        assert.deepEqual([member.role, member.healthy], ["replica", true]);
      } finally {
        await phase.close();
      }
    });
  },
);
