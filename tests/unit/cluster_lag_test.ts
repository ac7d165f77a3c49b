/**
 * Replication lag as the cluster measures it from WAL positions, and the
 * replicas it takes out of rotation past `maxReplicationLag`.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ReplicationLagError } from "../../src/cluster/mod.ts";
import { PROBE } from "../../src/cluster/_probes.ts";
import { flush } from "../support/manual_clock.ts";
import { primaryAnswers, replicaAnswers, setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool replication lag", () => {
  it("measures lag from WAL positions and takes out a replica past maxReplicationLag", async () => {
    const { cluster, primary, replicas, errors, clock, where } = setUp({}, 2);
    await flush();
    // The primary writes on; replica-2 keeps up, replica-1 stays at 0/100.
    let position = 0x100;
    const write = () => {
      position += 0x100;
      primaryAnswers(primary.driver, `0/${position.toString(16)}`);
      replicaAnswers(replicas[1].driver, `0/${position.toString(16)}`);
    };
    const lags: (number | null)[] = [];
    for (let i = 0; i < 5; i++) {
      write();
      await clock.advanceAsync(1_000);
      lags.push(cluster.members()[1].lagMs);
    }
    // Seen behind at the first write (t=1 s), measured from then: 0, 1, 2, 3, 4 s.
    assert.deepEqual(lags, [0, 1_000, 2_000, 3_000, 4_000]);
    assert.equal(cluster.members()[2].lagMs, 0);
    assert.deepEqual(
      cluster.members().map((m) => m.healthy),
      [true, false, true],
      "out once past 3,000 ms, not at it",
    );
    assert.equal(errors.length, 1);
    const [error, event, name] = errors[0];
    assert.deepEqual([event, name], ["replicationLag", "replica-1"]);
    assert.ok(error instanceof ReplicationLagError);
    assert.deepEqual([error.lagMs, error.maxLagMs], [4_000, 3_000]);
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-2");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-2");
    // replica-1 replays up to the position of t=3 s; at t=6 s the oldest it lacks is that of
    // t=4 s: 2 s behind, within the limit, so it comes back.
    replicaAnswers(replicas[0].driver, "0/400");
    write();
    await clock.advanceAsync(1_000);
    assert.equal(cluster.members()[1].lagMs, 2_000);
    assert.equal(cluster.members()[1].healthy, true);
    replicaAnswers(replicas[0].driver, `0/${position.toString(16)}`);
    await clock.advanceAsync(1_000);
    assert.equal(cluster.members()[1].lagMs, 0);
    assert.equal(cluster.getMetrics().members[1].removals, 1);
    await cluster.close();
  });

  it("forgets the old positions when the primary's position goes back (another server answers)", async () => {
    const { cluster, primary, replicas, errors, clock } = setUp({}, 1);
    await flush();
    primaryAnswers(primary.driver, "5/0");
    replicaAnswers(replicas[0].driver, "5/0");
    await clock.advanceAsync(1_000);
    // A replica promoted at 0/200 answers behind the primary's address now; the replica follows it.
    primaryAnswers(primary.driver, "0/300");
    replicaAnswers(replicas[0].driver, "0/300");
    await clock.advanceAsync(10_000);
    assert.deepEqual(cluster.members().map((m) => [m.healthy, m.lagMs]), [[true, null], [true, 0]]);
    assert.deepEqual(errors, []);
    await cluster.close();
  });

  it("reads zero lag on an idle primary however long nothing is written", async () => {
    const { cluster, errors, clock } = setUp({}, 1);
    await clock.advanceAsync(3_600_000);
    assert.equal(cluster.members()[1].lagMs, 0);
    assert.equal(cluster.members()[1].healthy, true);
    assert.deepEqual(errors, []);
    await cluster.close();
  });

  it("with maxReplicationLag 0, keeps a lagging replica in", async () => {
    const { cluster, primary, clock } = setUp({ maxReplicationLag: 0 }, 1);
    await flush();
    primaryAnswers(primary.driver, "0/900");
    await clock.advanceAsync(10_000);
    assert.equal(cluster.members()[1].lagMs, 9_000);
    assert.equal(cluster.members()[1].healthy, true);
    await cluster.close();
  });

  it("leaves lag unknown, and the replica in, while the primary has never answered", async () => {
    const { cluster, primary, errors, clock } = setUp({}, 1);
    primary.driver.queryErrors.set(PROBE, new Error("primary down"));
    await clock.advanceAsync(5_000);
    assert.deepEqual(cluster.members().map((m) => [m.healthy, m.lagMs]), [[false, null], [
      true,
      null,
    ]]);
    assert.deepEqual(errors.map(([, event, name]) => [event, name]), [["healthCheck", "primary"]]);
    await cluster.close();
  });
});
