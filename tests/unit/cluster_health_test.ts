/**
 * The cluster's health checks: a replica whose probe fails, times out or
 * finds it promoted leaves the rotation and comes back once it passes; a
 * primary that reports itself read-only refuses writes.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClusterPool, NoHealthyReplicaError, PrimaryReadOnlyError } from "../../src/cluster/mod.ts";
import { PoolError } from "../../src/errors.ts";
import { PROBE } from "../../src/cluster/_probes.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";
import { member, primaryAnswers, replicaAnswers, setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool replica health", () => {
  it("holds reads until the first health check has run", async () => {
    const clock = new ManualClock();
    const replica = member("replica", clock);
    replica.driver.onOpen = (c) => (c.hangQueries = true);
    // The replica's first probe hangs, so the read waits for the probe timeout.
    const cluster = new ClusterPool({
      primary: member("primary", clock).pool,
      replicas: [replica.pool],
      clock,
      healthInterval: 1_000,
      probeTimeout: 500,
    });
    const read = observe(cluster.executeRead("select 1"));
    await clock.advanceAsync(499);
    assert.equal(read.status, "pending");
    await clock.advanceAsync(1);
    assert.equal(
      read.status,
      "fulfilled",
      "served by the primary once the replica's probe timed out",
    );
    assert.equal(cluster.getMetrics().fallbackReads, 1);
    await cluster.close();
  });

  it("takes out a replica whose probe fails, falls back to the primary, and takes it back", async () => {
    const { cluster, replicas, errors, clock, where } = setUp({}, 1);
    const refused = new Error("connection refused");
    await flush();
    replicas[0].driver.queryErrors.set(PROBE, refused);
    await clock.advanceAsync(1_000);
    assert.deepEqual(cluster.members().map((m) => [m.name, m.healthy]), [
      ["primary", true],
      ["replica-1", false],
    ]);
    assert.deepEqual(errors, [[refused, "healthCheck", "replica-1"]]);
    assert.equal(await where((t) => cluster.executeRead(t)), "primary");
    await clock.advanceAsync(2_000);
    assert.equal(errors.length, 1, "a replica that stays down is reported once");
    replicas[0].driver.queryErrors.delete(PROBE);
    await clock.advanceAsync(1_000);
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    const m = cluster.getMetrics();
    assert.equal(m.fallbackReads, 1);
    assert.equal(m.healthyReplicas, 1);
    assert.deepEqual(
      [m.members[1].healthChecksFailed, m.members[1].healthChecksPassed, m.members[1].removals],
      [3, 2, 1],
    );
    await cluster.close();
  });

  it("counts a probe that does not answer within probeTimeout as failed", async () => {
    const { cluster, replicas, errors, clock } = setUp({}, 1);
    await flush();
    for (const c of replicas[0].driver.connections) c.hangQueries = true;
    replicas[0].driver.onOpen = (c) => (c.hangQueries = true);
    await clock.advanceAsync(1_000);
    assert.equal(cluster.members()[1].healthy, true, "still in while the probe runs");
    await clock.advanceAsync(500);
    assert.equal(cluster.members()[1].healthy, false);
    assert.equal(errors.length, 1);
    const [error, event] = errors[0];
    assert.equal(event, "healthCheck");
    assert.ok(error instanceof PoolError && error.code === "HEALTH_CHECK_TIMEOUT", String(error));
    await cluster.close();
  });

  it('fails reads with NoHealthyReplicaError when readFallback is "fail"', async () => {
    const { cluster, replicas, clock } = setUp({ readFallback: "fail" }, 2);
    await flush();
    for (const r of replicas) r.driver.queryErrors.set(PROBE, new Error("down"));
    await clock.advanceAsync(1_000);
    await assert.rejects(
      cluster.executeRead("select 1"),
      (error) => error instanceof NoHealthyReplicaError && error.replicas === 2,
    );
    await assert.rejects(cluster.beginTx({ readOnly: true }), NoHealthyReplicaError);
    assert.equal(await cluster.transaction(() => "written"), "written", "writes still work");
    assert.equal(cluster.getMetrics().readsRefused, 2);
    await cluster.close();
  });

  it("with no replicas, reads go to the primary", async () => {
    const { cluster, where } = setUp({}, 0);
    assert.equal(await where((t) => cluster.executeRead(t)), "primary");
    await cluster.close();
  });

  it("takes out a replica that is no longer in recovery (promoted)", async () => {
    const { cluster, replicas, errors, clock, where } = setUp({}, 2);
    await flush();
    replicaAnswers(replicas[1].driver, "0/100", false);
    await clock.advanceAsync(1_000);
    assert.equal(errors.length, 1);
    const [error, event, name] = errors[0];
    assert.deepEqual([event, name], ["role", "replica-2"]);
    assert.equal((error as PoolError).code, "REPLICA_NOT_IN_RECOVERY");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    await cluster.close();
  });

  it("with healthInterval 0, probes nothing and keeps every replica in rotation", async () => {
    const { cluster, replicas, primary, clock, where } = setUp({ healthInterval: 0 }, 1);
    replicas[0].driver.queryErrors.set(PROBE, new Error("never asked"));
    assert.equal(clock.pendingTimers, 0);
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    await clock.advanceAsync(60_000);
    const probes = [primary, ...replicas].flatMap((m) =>
      m.driver.connections.flatMap((c) => c.queries)
    ).filter((q) => q === PROBE);
    assert.deepEqual(probes, []);
    await cluster.close();
  });

  it("ignores an onError hook that throws, and goes on checking", async () => {
    const clock = new ManualClock();
    let calls = 0;
    const replica = member("r", clock);
    const cluster = new ClusterPool({
      primary: member("p", clock).pool,
      replicas: [replica.pool],
      clock,
      healthInterval: 1_000,
      onError: () => {
        calls++;
        throw new Error("hook failed");
      },
    });
    // Neither probe has a scripted answer (no rows): both fail, and both are reported.
    await clock.advanceAsync(1_000);
    assert.equal(calls, 2);
    assert.equal(cluster.members()[1].healthy, false);
    replicaAnswers(replica.driver, "0/100");
    await clock.advanceAsync(1_000);
    assert.equal(cluster.members()[1].healthy, true, "checks went on after the hook threw");
    await cluster.close();
  });
});

describe("ClusterPool role check", () => {
  it("refuses writes while the primary reports transaction_read_only = on", async () => {
    const { cluster, primary, errors, clock, where } = setUp({}, 1);
    await flush();
    primaryAnswers(primary.driver, "0/100", true);
    await clock.advanceAsync(1_000);
    assert.equal(errors.length, 1);
    assert.ok(errors[0][0] instanceof PrimaryReadOnlyError);
    assert.deepEqual(errors[0].slice(1), ["role", "primary"]);
    const before = primary.driver.connections.flatMap((c) => c.queries).length;
    await assert.rejects(
      cluster.execute("insert into t values (1)"),
      (error) => error instanceof PrimaryReadOnlyError && error.member === "primary",
    );
    await assert.rejects(cluster.transaction(() => {}), PrimaryReadOnlyError);
    await assert.rejects(cluster.beginTx(), PrimaryReadOnlyError);
    assert.equal(
      primary.driver.connections.flatMap((c) => c.queries).length,
      before,
      "refused without a round trip",
    );
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1", "reads go on");
    assert.deepEqual(cluster.members()[0], {
      name: "primary",
      role: "primary",
      pool: primary.pool,
      healthy: false,
      lagMs: null,
      readOnly: true,
    });
    await clock.advanceAsync(2_000);
    assert.equal(errors.length, 1, "reported once");
    primaryAnswers(primary.driver, "0/100", false);
    await clock.advanceAsync(1_000);
    assert.equal(await where((t) => cluster.execute(t)), "primary");
    const m = cluster.getMetrics();
    assert.deepEqual([m.writesRefused, m.members[0].removals, m.members[0].healthy], [3, 1, true]);
    await cluster.close();
  });

  it("checkHealth() runs a round at once, and joins one that runs", async () => {
    const { cluster, primary } = setUp({}, 1);
    await flush();
    primaryAnswers(primary.driver, "0/100", true);
    const a = cluster.checkHealth();
    const b = cluster.checkHealth();
    assert.equal(a, b);
    await a;
    assert.equal(cluster.members()[0].readOnly, true);
    await cluster.close();
  });
});
