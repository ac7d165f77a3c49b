/**
 * What several metrics handler tests share: a known sequence of acquisitions
 * and a small cluster of fake members.
 *
 * @module
 */

import { ClusterPool } from "../../src/cluster/mod.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { PROBE } from "../../src/cluster/_probes.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { type Harness, waitThenTimeOut } from "../support/pool_helpers.ts";

/**
 * On a pool of one connection: one acquire that waits for it to open, one
 * from the idle set, one that waits 20 ms, one that times out after 100 ms,
 * and one more from the idle set.
 */
export async function knownSequence(h: Harness): Promise<void> {
  (await waitThenTimeOut(h)).release();
  const last = await h.pool.getConnection();
  last.release();
}

/**
 * A cluster of fake members on a manual clock: a primary at WAL position
 * 0/100, "replica-1" replaying up to it, and "replica-2" whose probe fails.
 */
export function fakeCluster() {
  const clock = new ManualClock();
  const open = (name: string) => {
    const driver = new FakeDriver();
    const pool = new ConnectionPool({ driver, clock, name, healthInterval: 0 });
    return { driver, pool };
  };
  const primary = open("primary");
  const replica = open("replica-1");
  const broken = open("replica-2");
  const answer = (driver: FakeDriver, text: string, row: Record<string, unknown>) =>
    driver.queryResults.set(text, { rows: [row], rowCount: 1, command: "SELECT" });
  answer(primary.driver, PROBE, {
    in_recovery: false,
    read_only: "off",
    lsn: "0/100",
    replay_lsn: null,
  });
  answer(replica.driver, PROBE, {
    in_recovery: true,
    read_only: "on",
    lsn: null,
    replay_lsn: "0/100",
  });
  broken.driver.queryErrors.set(PROBE, new Error("replica down"));
  const cluster = new ClusterPool({
    primary: primary.pool,
    replicas: [replica.pool, broken.pool],
    clock,
    healthInterval: 1_000,
    onError: () => {},
  });
  return { cluster, clock };
}
