/**
 * `retries` of a cluster's read-only transactions: each attempt on a replica
 * chosen anew, after the pool's backoff, counted on the member that failed.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PoolClosedError } from "../../src/errors.ts";
import { pgError } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";
import { setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool read-only transaction retries", () => {
  it("runs the work again on a replica chosen anew after a serialization failure, after a backoff", async () => {
    const { cluster, replicas, clock } = setUp({}, 2);
    await flush();
    const ran: string[] = [];
    const result = observe(cluster.transaction(async (tx) => {
      const text = `select 'run ${ran.length + 1}'`;
      await tx.execute(text);
      ran.push(
        replicas.find((r) => r.driver.connections.some((c) => c.queries.includes(text)))!.name,
      );
      if (ran.length === 1) throw pgError("40001");
      return "done";
    }, { readOnly: true, retries: 2 }));
    await flush();
    assert.equal(result.status, "pending", "waits its backoff (5 to 10 ms) on the pool's clock");
    await clock.advanceAsync(10);
    assert.equal(result.status, "fulfilled");
    assert.equal(result.value, "done");
    assert.deepEqual(ran, ["replica-1", "replica-2"]);
    const m = cluster.getMetrics();
    assert.deepEqual(
      m.members.map(({ name, reads, inFlight, pool }) => [name, reads, inFlight, pool.retries]),
      [["primary", 0, 0, 0], ["replica-1", 1, 0, 1], ["replica-2", 1, 0, 0]],
    );
    assert.equal(m.totals.retries, 1);
    await cluster.close();
  });

  it("retries a transaction whose connection died under its work, and rethrows once the retries are spent", async () => {
    const { cluster, replicas, clock } = setUp({}, 1);
    await flush();
    let runs = 0;
    const lost = new Error("Connection terminated");
    const result = observe(cluster.transaction(async (tx) => {
      runs++;
      replicas[0].driver.last!.dieOnQuery = lost;
      await tx.execute("select 'a'");
    }, { readOnly: true, retries: 2 }));
    await clock.advanceAsync(100);
    assert.equal(result.status, "rejected");
    assert.equal(result.reason, lost);
    assert.equal(runs, 3);
    const m = cluster.getMetrics();
    assert.deepEqual([m.totals.retries, m.members[1].pool.connectionsLost], [2, 3]);
    assert.deepEqual(m.members.map((member) => member.inFlight), [0, 0]);
    await cluster.close();
  });

  it("never retries an error the server answered that is not a conflict", async () => {
    const { cluster, clock } = setUp({}, 1);
    await flush();
    let runs = 0;
    const result = observe(cluster.transaction(() => {
      runs++;
      throw pgError("42P01");
    }, { readOnly: true, retries: 3 }));
    await clock.advanceAsync(100);
    assert.equal(result.status, "rejected");
    assert.deepEqual([runs, cluster.getMetrics().totals.retries], [1, 0]);
    await cluster.close();
  });

  it("stops waiting to retry when the cluster closes", async () => {
    const { cluster } = setUp({}, 1);
    await flush();
    let runs = 0;
    const result = observe(cluster.transaction(() => {
      runs++;
      throw pgError("40P01");
    }, { readOnly: true, retries: 3 }));
    await flush();
    assert.equal(result.status, "pending");
    await cluster.close();
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof PoolClosedError, String(result.reason));
    assert.equal(runs, 1);
  });

  it("refuses a retries that is not a non-negative integer, as the pool does, before routing", async () => {
    const { cluster } = setUp({}, 1);
    await flush();
    for (const readOnly of [true, false]) {
      for (
        const [retries, type] of [[-1, RangeError], [1.5, RangeError], ["2", TypeError]] as const
      ) {
        await assert.rejects(
          cluster.transaction(() => 1, { readOnly, retries: retries as number }),
          (error: Error) =>
            error instanceof type &&
            error.message.startsWith("Cannot run transaction: retries must be an integer") &&
            error.message.includes(`got ${JSON.stringify(retries)}`),
        );
      }
    }
    const m = cluster.getMetrics();
    assert.deepEqual(m.members.map(({ reads, writes }) => [reads, writes]), [[0, 0], [0, 0]]);
    await cluster.close();
  });
});
