/**
 * Read failover: a read whose replica cannot be reached runs again on
 * another replica or the primary, and a statement's own error, an abort or
 * a timeout is never retried.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NoHealthyReplicaError } from "../../src/cluster/mod.ts";
import { type PoolError, QueryTimeoutError } from "../../src/errors.ts";
import { pgError } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";
import { type ClusterErrors, type Member, ranOn, setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool read failover", () => {
  /** Kills the replica's open connections and makes its next connects fail, as a stopped server. */
  function stopServer(replica: Member): void {
    for (const c of replica.driver.connections) c.die(new Error("Connection terminated"));
    replica.driver.failConnects(1_000, new Error("connect ECONNREFUSED 127.0.0.1:5433"));
  }

  /** What was reported as "readFailover", as [code, member]. */
  function failovers(errors: ClusterErrors): [string, string][] {
    return errors.filter(([, event]) => event === "readFailover")
      .map(([error, , name]) => [(error as PoolError).code, name]);
  }

  it("retries on the other replica when the chosen one refuses connections, within one look at its pool", async () => {
    const { cluster, primary, replicas, errors, clock } = setUp({}, 2);
    await flush();
    stopServer(replicas[0]);
    const read = observe(cluster.executeRead("select 'a'"));
    await flush();
    assert.equal(read.status, "pending", "waits while the replica's pool backs off");
    await clock.advanceAsync(20);
    assert.equal(read.status, "fulfilled", "not after the pool's 30 s acquireTimeout");
    assert.deepEqual(ranOn([primary, ...replicas], "select 'a'"), ["replica-2"]);
    assert.deepEqual(failovers(errors), [["REPLICA_UNREACHABLE", "replica-1"]]);
    const m = cluster.getMetrics();
    assert.deepEqual(
      [m.readsRetried, m.members[1].healthy, m.members[1].removals, m.members[1].reads],
      [1, false, 1, 1],
    );
    // Out of rotation: the next reads do not try it.
    const connects = replicas[0].driver.connects;
    await cluster.executeRead("select 'b'");
    assert.deepEqual(ranOn([primary, ...replicas], "select 'b'"), ["replica-2"]);
    await clock.advanceAsync(500);
    assert.equal(cluster.getMetrics().readsRetried, 1);
    assert.equal(failovers(errors).length, 1, "reported once");
    // The server is back: the next health check puts it back in rotation.
    replicas[0].driver.connectErrors.length = 0;
    await clock.advanceAsync(5_000);
    assert.ok(replicas[0].driver.connects > connects);
    assert.equal(cluster.members()[1].healthy, true);
    await cluster.close();
  });

  it("retries on the other replica at once when the chosen one's circuit breaker is open", async () => {
    const { cluster, primary, replicas, errors, clock } = setUp({}, 2);
    await flush();
    stopServer(replicas[0]);
    // The replica's own pool opens its breaker after 5 failed connects (0 to 750 ms), before any probe.
    const waiter = observe(replicas[0].pool.getConnection());
    await clock.advanceAsync(750);
    assert.equal((waiter.reason as PoolError | undefined)?.code, "CIRCUIT_OPEN");
    assert.equal(cluster.members()[1].healthy, true, "no probe has run yet");
    const read = observe(cluster.executeRead("select 'a'"));
    await flush();
    assert.equal(read.status, "fulfilled", "at once, with no wait on the open breaker");
    assert.deepEqual(ranOn([primary, ...replicas], "select 'a'"), ["replica-2"]);
    assert.deepEqual(failovers(errors), [["REPLICA_UNREACHABLE", "replica-1"]]);
    await cluster.close();
  });

  it("retries a read whose connection dies under it, on the other replica and then the primary", async () => {
    const { cluster, primary, replicas, errors } = setUp({}, 2);
    await flush();
    const all = [primary, ...replicas];
    replicas[0].driver.last!.dieOnQuery = new Error("Connection terminated");
    // replica-1 dies under the first read, which runs again on replica-2.
    await cluster.executeRead("select 'a'");
    assert.deepEqual(ranOn(all, "select 'a'"), ["replica-1", "replica-2"], "sent to both");
    // Then replica-2 dies under the next read, which goes to the primary.
    replicas[1].driver.last!.dieOnQuery = new Error("Connection terminated");
    await cluster.executeRead("select 'b'");
    assert.deepEqual(ranOn(all, "select 'b'"), ["primary", "replica-2"]);
    assert.deepEqual(failovers(errors), [
      ["REPLICA_UNREACHABLE", "replica-1"],
      ["REPLICA_UNREACHABLE", "replica-2"],
    ]);
    const cause = (errors[0][0] as Error).cause as Error;
    assert.equal(cause.message, "Connection terminated");
    const m = cluster.getMetrics();
    assert.deepEqual([m.readsRetried, m.fallbackReads, m.healthyReplicas], [2, 1, 0]);
    await cluster.close();
  });

  it('fails with NoHealthyReplicaError when the only replica is unreachable and readFallback is "fail"', async () => {
    const { cluster, replicas, errors } = setUp({ readFallback: "fail" }, 1);
    await flush();
    replicas[0].driver.last!.dieOnQuery = new Error("Connection terminated");
    await assert.rejects(cluster.executeRead("select 1"), NoHealthyReplicaError);
    assert.deepEqual(failovers(errors), [["REPLICA_UNREACHABLE", "replica-1"]]);
    assert.deepEqual([cluster.getMetrics().readsRefused, cluster.getMetrics().readsRetried], [
      1,
      1,
    ]);
    await cluster.close();
  });

  it("retries when the server says it is shutting down (57P01), even on a connection still open", async () => {
    const { cluster, primary, replicas } = setUp({}, 1);
    await flush();
    replicas[0].driver.queryErrors.set("select 'a'", pgError("57P01", "terminating connection"));
    await cluster.executeRead("select 'a'");
    assert.ok(primary.driver.connections.some((c) => c.queries.includes("select 'a'")));
    assert.equal(cluster.members()[1].healthy, false);
    await cluster.close();
  });

  for (const code of ["42P01", "22012", "57014", "40001", "25006"]) {
    it(`passes a statement error (${code}) through, and keeps the replica in rotation`, async () => {
      const { cluster, primary, replicas, errors } = setUp({}, 2);
      await flush();
      const error = pgError(code);
      for (const r of replicas) r.driver.queryErrors.set("select 'a'", error);
      await assert.rejects(cluster.executeRead("select 'a'"), (e) => e === error);
      await assert.rejects(
        cluster.transaction((tx) => tx.execute("select 'a'"), { readOnly: true }),
        (e) => e === error,
      );
      assert.deepEqual(ranOn([primary, ...replicas], "select 'a'"), ["replica-1", "replica-2"]);
      assert.deepEqual(errors, []);
      const m = cluster.getMetrics();
      assert.deepEqual([m.readsRetried, m.healthyReplicas], [0, 2]);
      await cluster.close();
    });
  }

  it("never retries a read whose caller aborted, nor one whose own timeout elapsed", async () => {
    const { cluster, replicas, errors, clock } = setUp({}, 2);
    await flush();
    stopServer(replicas[0]);
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    const aborted = observe(cluster.executeRead("select 'a'", [], { signal: controller.signal }));
    await flush();
    controller.abort(reason);
    await clock.advanceAsync(20);
    assert.equal(aborted.status, "rejected");
    assert.equal(aborted.reason, reason);
    assert.deepEqual(errors, []);
    assert.equal(cluster.getMetrics().readsRetried, 0);
    assert.equal(cluster.members()[1].healthy, true, "not taken out for the caller's abort");
    await assert.rejects(
      cluster.executeRead("select 1", [], { signal: "soon" as unknown as AbortSignal }),
      (error) =>
        error instanceof TypeError &&
        /signal must be an AbortSignal, got string/.test(error.message),
    );
    assert.deepEqual(errors, [], "nor for a bad signal");

    // replica-2 is next in turn; its statement hangs past the caller's timeout.
    for (const c of replicas[1].driver.connections) c.hangQueries = true;
    const timed = observe(cluster.executeRead("select 'b'", [], { timeout: 50 }));
    await clock.advanceAsync(50);
    assert.equal(timed.status, "rejected");
    assert.ok(timed.reason instanceof QueryTimeoutError, String(timed.reason));
    assert.deepEqual(errors, []);
    assert.equal(cluster.getMetrics().readsRetried, 0);
    await cluster.close();
  });

  it("retries the BEGIN of a read-only transaction, and never once its function runs", async () => {
    const { cluster, primary, replicas, errors } = setUp({}, 2);
    await flush();
    replicas[0].driver.last!.dieOnQuery = new Error("Connection terminated");
    const tx = await cluster.beginTx({ readOnly: true });
    await tx.execute("select 'a'");
    await tx.commit();
    assert.deepEqual(ranOn([primary, ...replicas], "select 'a'"), ["replica-2"]);
    assert.equal(failovers(errors).length, 1);

    // The function's own statement breaks the connection: it runs once and the error reaches the caller.
    const lost = new Error("Connection terminated");
    let calls = 0;
    await assert.rejects(
      cluster.transaction(async (tx) => {
        calls++;
        replicas[1].driver.last!.dieOnQuery = lost;
        await tx.execute("select 'b'");
      }, { readOnly: true }),
      (e) => e === lost,
    );
    assert.equal(calls, 1);
    assert.equal(cluster.getMetrics().readsRetried, 1);
    assert.deepEqual(cluster.getMetrics().members.map((m) => m.inFlight), [0, 0, 0]);
    await cluster.close();
  });

  it("moves a read waiting on a replica that a health check takes out meanwhile", async () => {
    const { cluster, primary, replicas, clock } = setUp({}, 1);
    await flush();
    // Connects hang (a host that drops packets): only the health check can tell.
    for (const c of replicas[0].driver.connections) c.die(new Error("Connection terminated"));
    replicas[0].driver.connectGate = new Promise(() => {});
    const read = observe(cluster.executeRead("select 'a'"));
    await clock.advanceAsync(1_000 + 500);
    assert.equal(cluster.members()[1].healthy, false, "its probe timed out");
    await clock.advanceAsync(20);
    assert.equal(read.status, "fulfilled");
    assert.ok(primary.driver.connections.some((c) => c.queries.includes("select 'a'")));
    await cluster.close();
  });
});
