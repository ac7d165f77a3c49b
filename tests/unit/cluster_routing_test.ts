/**
 * Where the cluster sends each call: writes to the primary, marked reads to
 * the least busy replica, a session's reads to the primary just after its
 * writes; and the metrics that count them.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { flush } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";
import { setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool routing", () => {
  it("sends writes to the primary and marked reads to a replica", async () => {
    const { cluster, where } = setUp({}, 1);
    assert.equal(await where((t) => cluster.execute(t)), "primary");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    assert.equal(
      await where((t) => cluster.transaction((tx) => tx.execute(t))),
      "primary",
    );
    assert.equal(
      await where((t) => cluster.transaction((tx) => tx.execute(t), { readOnly: true })),
      "replica-1",
    );
    assert.equal(
      await where(async (t) => {
        const tx = await cluster.beginTx({ readOnly: true });
        await tx.execute(t);
        await tx.commit();
      }),
      "replica-1",
    );
    assert.equal(
      await where(async (t) => {
        const tx = await cluster.beginTx({ readOnly: false });
        await tx.execute(t);
        await tx.rollback();
      }),
      "primary",
    );
    const m = cluster.getMetrics();
    assert.deepEqual(
      m.members.map(({ name, reads, writes, inFlight }) => [name, reads, writes, inFlight]),
      [["primary", 0, 3, 0], ["replica-1", 3, 0, 0]],
    );
    await cluster.close();
  });

  it("passes BEGIN READ ONLY and the isolation level on to the replica", async () => {
    const { cluster, replicas } = setUp({}, 1);
    await cluster.transaction(() => {}, { readOnly: true, isolationLevel: "repeatable read" });
    assert.ok(
      replicas[0].driver.connections.some((c) =>
        c.queries.includes("begin isolation level repeatable read, read only")
      ),
    );
    await cluster.close();
  });

  it("takes turns among equally busy replicas", async () => {
    const { cluster, where } = setUp({}, 3);
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push(await where((t) => cluster.executeRead(t)));
    assert.deepEqual(order, [
      "replica-1",
      "replica-2",
      "replica-3",
      "replica-1",
      "replica-2",
      "replica-3",
    ]);
    await cluster.close();
  });

  it("sends reads to the replica with the fewest operations running", async () => {
    const { cluster, where } = setUp({}, 3);
    // Two read-only transactions stay open, on replica-1 and replica-2.
    const first = await cluster.beginTx({ readOnly: true });
    const second = await cluster.beginTx({ readOnly: true });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push(await where((t) => cluster.executeRead(t)));
    assert.deepEqual(order, ["replica-3", "replica-3", "replica-3"]);
    assert.deepEqual(
      cluster.getMetrics().members.map((m) => m.inFlight),
      [0, 1, 1, 0],
    );
    await first.commit();
    // replica-1 is free again and, with replica-3, least busy; the turn after replica-3 is replica-1.
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-3");
    await second.rollback();
    await second.rollback().catch(() => {}); // ending twice counts once
    assert.deepEqual(cluster.getMetrics().members.map((m) => m.inFlight), [0, 0, 0, 0]);
    await cluster.close();
  });

  it("counts a read as running until its statement ends", async () => {
    const { cluster, replicas, where } = setUp({}, 2);
    await flush();
    replicas[0].driver.onOpen = (c) => (c.hangQueries = true);
    // replica-1's probe connection is already open; the read opens a new, hanging one.
    const held = await replicas[0].pool.getConnection();
    const controller = new AbortController();
    const slow = observe(cluster.executeRead("select 'slow'", [], { signal: controller.signal }));
    await flush();
    assert.equal(slow.status, "pending");
    assert.equal(cluster.getMetrics().members[1].inFlight, 1);
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-2");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-2");
    controller.abort(new Error("stop"));
    await flush();
    assert.equal(slow.status, "rejected");
    assert.equal(cluster.getMetrics().members[1].inFlight, 0);
    held.release();
    await cluster.close();
  });
});

describe("ClusterPool read-your-writes", () => {
  it("sends a session's reads to the primary for the window after its write", async () => {
    const { cluster, clock, where } = setUp({ readYourWritesWindow: 5_000 }, 1);
    const session = cluster.session();
    const other = cluster.session();
    assert.equal(await where((t) => session.executeRead(t)), "replica-1");
    assert.equal(session.readsFromPrimary, false);
    assert.equal(await where((t) => session.execute(t)), "primary");
    assert.equal(session.readsFromPrimary, true);
    assert.equal(await where((t) => session.executeRead(t)), "primary");
    assert.equal(
      await where((t) => session.transaction((tx) => tx.execute(t), { readOnly: true })),
      "primary",
    );
    assert.equal(
      await where((t) => other.executeRead(t)),
      "replica-1",
      "other sessions unaffected",
    );
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    await clock.advanceAsync(4_999);
    assert.equal(await where((t) => session.executeRead(t)), "primary");
    await clock.advanceAsync(1);
    assert.equal(await where((t) => session.executeRead(t)), "replica-1");
    assert.equal(cluster.getMetrics().readYourWritesReads, 3);
    await cluster.close();
  });

  it("starts the window when a writing transaction ends", async () => {
    const { cluster, clock, where } = setUp({ readYourWritesWindow: 1_000 }, 1);
    const session = cluster.session();
    const tx = await session.beginTx();
    await clock.advanceAsync(5_000);
    assert.equal(session.readsFromPrimary, false, "not while it is open");
    await tx.commit();
    assert.equal(await where((t) => session.executeRead(t)), "primary");
    await clock.advanceAsync(1_000);
    await session.transaction(() => {});
    assert.equal(await where((t) => session.executeRead(t)), "primary");
    await clock.advanceAsync(1_000);
    assert.equal(await where((t) => session.executeRead(t)), "replica-1");
    await cluster.close();
  });

  it("writes through the cluster itself, or with the window 0, pin nothing", async () => {
    const { cluster, where } = setUp({}, 1);
    const session = cluster.session();
    await session.execute("insert into t values (1)");
    await cluster.execute("insert into t values (2)");
    assert.equal(await where((t) => session.executeRead(t)), "replica-1");
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    await cluster.close();
  });
});

describe("ClusterPool metrics", () => {
  it("lists each member with its pool metrics, and sums them", async () => {
    const { cluster, primary, replicas } = setUp({}, 2);
    const held = await cluster.beginTx({ readOnly: true });
    await cluster.execute("select 1");
    const m = cluster.getMetrics();
    assert.deepEqual(m.members.map((x) => [x.name, x.role]), [
      ["primary", "primary"],
      ["replica-1", "replica"],
      ["replica-2", "replica"],
    ]);
    const pools = [primary, ...replicas].map((x) => x.pool.getMetrics());
    for (
      const key of [
        "openConnections",
        "inUse",
        "idle",
        "acquireCount",
        "maxOpenConnections",
      ] as const
    ) {
      assert.equal(m.totals[key], pools.reduce((sum, p) => sum + p[key], 0), key);
    }
    assert.equal(m.totals.inUse, 1);
    assert.equal(m.totals.maxOpenConnections, 30);
    assert.ok(!("utilization" in m.totals) && !("acquireTimeP99" in m.totals));
    assert.deepEqual(m.members.map((x) => x.pool.inUse), [0, 1, 0]);
    assert.equal(m.healthyReplicas, 2);
    assert.deepEqual(cluster.members().map((x) => [x.name, x.role, x.pool, x.healthy, x.lagMs]), [
      ["primary", "primary", primary.pool, true, null],
      ["replica-1", "replica", replicas[0].pool, true, 0],
      ["replica-2", "replica", replicas[1].pool, true, 0],
    ]);
    await held.rollback();
    await cluster.close();
  });
});
