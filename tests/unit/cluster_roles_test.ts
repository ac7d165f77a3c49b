import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClusterPool, NoPrimaryError } from "../../src/cluster/mod.ts";
import {
  type ClusterErrors,
  type Member,
  member,
  primaryAnswers,
  ranOn,
  replicaAnswers,
} from "../support/cluster_helpers.ts";
import { ManualClock } from "../support/manual_clock.ts";

/** Makes a fake member answer every probe as a primary, or as a standby. */
function serverIs(target: Member, role: "primary" | "standby"): void {
  if (role === "primary") primaryAnswers(target.driver, "0/100");
  else replicaAnswers(target.driver, "0/100");
}

/** A cluster of `roles.length` members given without roles, named `db-1`, `db-2`, ... */
function setUp(roles: ("primary" | "standby")[]) {
  const clock = new ManualClock();
  const members = roles.map((role, i) => {
    const made = member(`db-${i + 1}`, clock);
    serverIs(made, role);
    return made;
  });
  const errors: ClusterErrors = [];
  const cluster = new ClusterPool({
    members: members.map((each) => each.pool),
    clock,
    healthInterval: 1_000,
    probeTimeout: 500,
    onError: (error, event, name) => errors.push([error, event, name]),
  });
  let n = 0;
  const where = async (call: (text: string) => Promise<unknown>): Promise<string> => {
    const text = `select 'statement ${++n}'`;
    await call(text);
    const ran = ranOn(members, text);
    assert.equal(ran.length, 1, `${text} ran on exactly one member`);
    return ran[0];
  };
  return { clock, members, cluster, errors, where };
}

describe("ClusterPool given members without roles", () => {
  it("learns which member is primary from the probes, whatever the order given", async () => {
    const { cluster, where } = setUp(["standby", "primary", "standby"]);
    try {
      assert.equal(
        await where((text) => cluster.execute(text)),
        "db-2",
        "the write waits for the check",
      );
      const roles = cluster.members().map(({ name, role, healthy }) => [name, role, healthy]);
      assert.deepEqual(roles, [
        ["db-2", "primary", true],
        ["db-1", "replica", true],
        ["db-3", "replica", true],
      ]);
      const readers = new Set([await where((text) => cluster.executeRead(text))]);
      readers.add(await where((text) => cluster.executeRead(text)));
      assert.deepEqual([...readers].toSorted(), ["db-1", "db-3"]);
    } finally {
      await cluster.close();
    }
  });

  it("asks each member one probe query per round, for its role and its health alike", async () => {
    const { cluster, members, clock } = setUp(["standby", "primary", "standby"]);
    /** Per member, the probe queries its connections were sent (every probe asks pg_is_in_recovery()). */
    const probes = () =>
      members.map((m) =>
        m.driver.connections.flatMap((c) => c.queries)
          .filter((text) => text.startsWith("select pg_is_in_recovery()")).length
      );
    try {
      await cluster.checkHealth();
      assert.deepEqual(probes(), [1, 1, 1]);
      await clock.advanceAsync(1_000);
      assert.deepEqual(probes(), [2, 2, 2]);
      // The promotion is learned, and every standing set, from that one answer each.
      serverIs(members[1], "standby");
      serverIs(members[2], "primary");
      await clock.advanceAsync(1_000);
      assert.deepEqual(probes(), [3, 3, 3]);
      assert.deepEqual(
        cluster.members().map(({ name, role, healthy }) => [name, role, healthy]),
        [["db-3", "primary", true], ["db-1", "replica", true], ["db-2", "replica", true]],
      );
      assert.deepEqual(
        cluster.getMetrics().members.map((m) => [m.healthChecksPassed, m.healthChecksFailed]),
        [[3, 0], [3, 0], [3, 0]],
      );
    } finally {
      await cluster.close();
    }
  });

  it("moves writes to a promoted member, and reads to the old primary once it is a standby", async () => {
    const { cluster, members, where } = setUp(["primary", "standby"]);
    try {
      await cluster.checkHealth();
      assert.equal(await where((text) => cluster.execute(text)), "db-1");
      serverIs(members[0], "standby");
      serverIs(members[1], "primary");
      await cluster.checkHealth();
      assert.equal(await where((text) => cluster.execute(text)), "db-2");
      assert.equal(await where((text) => cluster.executeRead(text)), "db-1");
      assert.equal(await where((text) => cluster.transaction((tx) => tx.execute(text))), "db-2");
      const [primary, replica] = cluster.members();
      assert.deepEqual([primary.name, primary.role, replica.name, replica.role], [
        "db-2",
        "primary",
        "db-1",
        "replica",
      ]);
    } finally {
      await cluster.close();
    }
  });

  it("refuses writes with NoPrimaryError while two members claim to be primary, until one steps down", async () => {
    const { cluster, members, errors, where } = setUp(["primary", "standby"]);
    try {
      await cluster.checkHealth();
      serverIs(members[1], "primary");
      await cluster.checkHealth();
      await cluster.checkHealth();
      await assert.rejects(
        cluster.execute("insert into t values (1)"),
        (error) =>
          error instanceof NoPrimaryError && error.code === "NO_PRIMARY" &&
          error.claimants.join() === "db-1,db-2",
      );
      await assert.rejects(cluster.transaction(() => {}), NoPrimaryError);
      await assert.rejects(cluster.beginTx(), NoPrimaryError);
      const reported = errors.filter(([error]) => error instanceof NoPrimaryError);
      assert.equal(reported.length, 1, "reported once, not on every round");
      assert.equal(reported[0][1], "role");
      assert.equal(cluster.getMetrics().writesRefused, 3);
      serverIs(members[0], "standby");
      await cluster.checkHealth();
      assert.equal(await where((text) => cluster.execute(text)), "db-2");
    } finally {
      await cluster.close();
    }
  });

  it("refuses writes while no member is primary, as during a failover, and takes them after", async () => {
    const { cluster, members, where } = setUp(["primary", "standby"]);
    try {
      await cluster.checkHealth();
      serverIs(members[0], "standby");
      await cluster.checkHealth();
      await assert.rejects(
        cluster.execute("insert into t values (1)"),
        (error) => error instanceof NoPrimaryError && error.claimants.length === 0,
      );
      assert.equal(await where((text) => cluster.executeRead(text)), "db-2", "reads go on");
      serverIs(members[1], "primary");
      await cluster.checkHealth();
      assert.equal(await where((text) => cluster.execute(text)), "db-2");
    } finally {
      await cluster.close();
    }
  });

  it("refuses members beside primary or replicas, an empty list, and no health checks", () => {
    const clock = new ManualClock();
    const a = member("a", clock);
    const b = member("b", clock);
    assert.throws(
      () => new ClusterPool({ members: [a.pool], primary: b.pool, replicas: [], clock }),
      /either members, or primary and replicas/,
    );
    assert.throws(
      () => new ClusterPool({ members: [], clock }),
      /members must be a non-empty array/,
    );
    assert.throws(
      () => new ClusterPool({ members: [a.pool, b.pool], clock, healthInterval: 0 }),
      /healthInterval cannot be 0/,
    );
  });
});
