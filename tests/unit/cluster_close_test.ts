/**
 * Closing the cluster: every member closes, every timer stops, and later
 * calls are refused.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { PoolClosedError } from "../../src/errors.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { member, setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool close", () => {
  it("closes every member, stops its timers, and refuses later calls", async () => {
    const { cluster, primary, replicas, clock } = setUp({}, 2);
    await flush();
    const closing = cluster.close();
    assert.equal(cluster.close(), closing);
    await closing;
    assert.equal(clock.pendingTimers, 0);
    for (const m of [primary, ...replicas]) {
      await assert.rejects(m.pool.execute("select 1"), PoolClosedError);
    }
    await assert.rejects(cluster.execute("select 1"), PoolClosedError);
    await assert.rejects(cluster.executeRead("select 1"), PoolClosedError);
    await assert.rejects(cluster.session().beginTx({ readOnly: true }), PoolClosedError);
    await cluster.checkHealth();
  });

  it("closes with await using, during a health round", async () => {
    const clock = new ManualClock();
    const primary = member("a", clock);
    const replica = member("b", clock);
    replica.driver.onOpen = (c) => (c.hangQueries = true);
    {
      await using cluster = new ClusterPool({
        primary: primary.pool,
        replicas: [replica.pool],
        clock,
        onError: () => assert.fail("nothing is reported after close"),
      });
      await flush();
      assert.equal(cluster.members()[1].healthy, false, "unchecked while its probe hangs");
    }
    // The hanging probe was aborted, or the replica pool's close() would still wait.
    await assert.rejects(replica.pool.execute("select 1"), PoolClosedError);
    assert.equal(clock.pendingTimers, 0);
  });
});
