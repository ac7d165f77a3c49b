/**
 * Shared set-up for the cluster's unit tests: members (a pool on a fake
 * driver) whose probes answer as scripted, a cluster of them on a manual
 * clock, and a way to tell which member ran a statement.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ClusterErrorEvent, type ClusterOptions, ClusterPool } from "../../src/cluster/mod.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { PROBE } from "../../src/cluster/_probes.ts";
import { FakeDriver } from "./fake_driver.ts";
import { ManualClock } from "./manual_clock.ts";

/** One pool of the cluster, with its fake driver. */
export interface Member {
  name: string;
  driver: FakeDriver;
  pool: ConnectionPool;
}

/** What the cluster told `onError`: the error, the event and the member's name. */
export type ClusterErrors = [unknown, ClusterErrorEvent, string][];

/** What the member's probe answers as a primary. */
export function primaryAnswers(driver: FakeDriver, lsn: string | null, readOnly = false): void {
  driver.queryResults.set(PROBE, {
    rows: [{ in_recovery: false, read_only: readOnly ? "on" : "off", lsn, replay_lsn: null }],
    rowCount: 1,
    command: "SELECT",
  });
}

/**
 * What the member's probe answers as a replica; out of recovery (promoted),
 * it answers as a primary at `replayLsn`.
 */
export function replicaAnswers(
  driver: FakeDriver,
  replayLsn: string | null,
  inRecovery = true,
): void {
  if (!inRecovery) return primaryAnswers(driver, replayLsn);
  driver.queryResults.set(PROBE, {
    rows: [{ in_recovery: true, read_only: "on", lsn: null, replay_lsn: replayLsn }],
    rowCount: 1,
    command: "SELECT",
  });
}

/** A pool on a fresh fake driver, with only the timers the cluster sets itself. */
export function member(name: string, clock: ManualClock): Member {
  const driver = new FakeDriver();
  const pool = new ConnectionPool({
    driver,
    clock,
    name,
    healthInterval: 0,
    connMaxLifetime: 0,
    connMaxIdleTime: 0,
    validateAfterIdle: 0,
  });
  return { name, driver, pool };
}

/** The names of the members whose connections were sent `text`. */
export function ranOn(members: Member[], text: string): string[] {
  return members.filter((m) => m.driver.connections.some((c) => c.queries.includes(text)))
    .map((m) => m.name);
}

/**
 * A cluster of fake members on a manual clock: probes every 1 s, bounded by
 * 500 ms, lag limit 3 s; every member at WAL position 0/100 and healthy.
 */
export function setUp(options: Partial<ClusterOptions> = {}, replicaCount = 2) {
  const clock = new ManualClock();
  const primary = member("primary", clock);
  const replicas = Array.from(
    { length: replicaCount },
    (_, i) => member(`replica-${i + 1}`, clock),
  );
  primaryAnswers(primary.driver, "0/100");
  for (const replica of replicas) replicaAnswers(replica.driver, "0/100");
  const errors: ClusterErrors = [];
  const cluster = new ClusterPool({
    primary: primary.pool,
    replicas: replicas.map((replica) => replica.pool),
    clock,
    healthInterval: 1_000,
    probeTimeout: 500,
    maxReplicationLag: 3_000,
    onError: (error, event, name) => errors.push([error, event, name]),
    ...options,
  });
  let n = 0;
  /** Runs `call` with a statement text of its own; returns the name of the member that ran it. */
  const where = async (
    call: (text: string) => Promise<unknown>,
  ): Promise<string> => {
    const text = `select 'statement ${++n}'`;
    await call(text);
    const ran = ranOn([primary, ...replicas], text);
    assert.equal(ran.length, 1, `${text} ran on exactly one member`);
    return ran[0];
  };
  return { clock, primary, replicas, errors, cluster, where };
}
