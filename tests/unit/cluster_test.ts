import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type ClusterErrorEvent,
  type ClusterOptions,
  ClusterPool,
  NoHealthyReplicaError,
  PrimaryReadOnlyError,
  ReplicationLagError,
} from "../../src/cluster/mod.ts";
import { PoolClosedError, PoolError, QueryTimeoutError } from "../../src/errors.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { PRIMARY_PROBE, REPLICA_PROBE } from "../../src/cluster/_probes.ts";
import { FakeDriver, pgError } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { observe } from "../support/pool_helpers.ts";

interface Member {
  name: string;
  driver: FakeDriver;
  pool: ConnectionPool;
}

/** What the primary's probe answers. */
function primaryAnswers(driver: FakeDriver, lsn: string | null, readOnly = false): void {
  driver.queryResults.set(PRIMARY_PROBE, {
    rows: [{ in_recovery: false, read_only: readOnly ? "on" : "off", lsn }],
    rowCount: 1,
    command: "SELECT",
  });
}

/** What a replica's probe answers. */
function replicaAnswers(driver: FakeDriver, replayLsn: string | null, inRecovery = true): void {
  driver.queryResults.set(REPLICA_PROBE, {
    rows: [{ in_recovery: inRecovery, replay_lsn: replayLsn }],
    rowCount: 1,
    command: "SELECT",
  });
}

function member(name: string, clock: ManualClock): Member {
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

/**
 * A cluster of fake members on a manual clock: probes every 1 s, bounded by
 * 500 ms, lag limit 3 s; every member at WAL position 0/100 and healthy.
 */
function setUp(options: Partial<ClusterOptions> = {}, replicaCount = 2) {
  const clock = new ManualClock();
  const primary = member("primary", clock);
  const replicas = Array.from(
    { length: replicaCount },
    (_, i) => member(`replica-${i + 1}`, clock),
  );
  primaryAnswers(primary.driver, "0/100");
  for (const replica of replicas) replicaAnswers(replica.driver, "0/100");
  const errors: [unknown, ClusterErrorEvent, string][] = [];
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
    const ran = [primary, ...replicas].filter((m) =>
      m.driver.connections.some((c) => c.queries.includes(text))
    );
    assert.equal(ran.length, 1, `${text} ran on exactly one member`);
    return ran[0].name;
  };
  return { clock, primary, replicas, errors, cluster, where };
}

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
    replicas[0].driver.queryErrors.set(REPLICA_PROBE, refused);
    await clock.advanceAsync(1_000);
    assert.deepEqual(cluster.members().map((m) => [m.name, m.healthy]), [
      ["primary", true],
      ["replica-1", false],
    ]);
    assert.deepEqual(errors, [[refused, "healthCheck", "replica-1"]]);
    assert.equal(await where((t) => cluster.executeRead(t)), "primary");
    await clock.advanceAsync(2_000);
    assert.equal(errors.length, 1, "a replica that stays down is reported once");
    replicas[0].driver.queryErrors.delete(REPLICA_PROBE);
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
    for (const r of replicas) r.driver.queryErrors.set(REPLICA_PROBE, new Error("down"));
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
    replicas[0].driver.queryErrors.set(REPLICA_PROBE, new Error("never asked"));
    assert.equal(clock.pendingTimers, 0);
    assert.equal(await where((t) => cluster.executeRead(t)), "replica-1");
    await clock.advanceAsync(60_000);
    const probes = [primary, ...replicas].flatMap((m) =>
      m.driver.connections.flatMap((c) => c.queries)
    ).filter((q) => q === PRIMARY_PROBE || q === REPLICA_PROBE);
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
    primary.driver.queryErrors.set(PRIMARY_PROBE, new Error("primary down"));
    await clock.advanceAsync(5_000);
    assert.deepEqual(cluster.members().map((m) => [m.healthy, m.lagMs]), [[false, null], [
      true,
      null,
    ]]);
    assert.deepEqual(errors.map(([, event, name]) => [event, name]), [["healthCheck", "primary"]]);
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

describe("ClusterPool read failover", () => {
  /** Kills the replica's open connections and makes its next connects fail, as a stopped server. */
  function stopServer(replica: Member): void {
    for (const c of replica.driver.connections) c.die(new Error("Connection terminated"));
    replica.driver.failConnects(1_000, new Error("connect ECONNREFUSED 127.0.0.1:5433"));
  }

  /** The names of the members whose connections were sent `text`. */
  function ranOn(members: Member[], text: string): string[] {
    return members.filter((m) => m.driver.connections.some((c) => c.queries.includes(text)))
      .map((m) => m.name);
  }

  /** What was reported as "readFailover", as [code, member]. */
  function failovers(errors: [unknown, ClusterErrorEvent, string][]): [string, string][] {
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

describe("ClusterPool options", () => {
  const clock = new ManualClock();
  const pools = () => ({
    primary: member("p", clock).pool,
    replicas: [member("r", clock).pool],
  });
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ["no options", undefined, TypeError, /options must be an object, got undefined/],
    ["an unknown option", { ...pools(), maxLag: 1 }, TypeError, /unknown option "maxLag"/],
    ["no primary", { replicas: [] }, TypeError, /primary must be a ConnectionPool, got undefined/],
    [
      "replicas not an array",
      { primary: pools().primary, replicas: "r" },
      TypeError,
      /replicas must be an array of ConnectionPool, got "r"/,
    ],
    [
      "a replica not a pool",
      { primary: pools().primary, replicas: [{}] },
      TypeError,
      /replicas\[0\] must be a ConnectionPool, got an object/,
    ],
    [
      "a negative lag",
      { ...pools(), maxReplicationLag: -1 },
      RangeError,
      /maxReplicationLag must be from 0 to \d+ milliseconds, got -1/,
    ],
    [
      "a lag of the wrong type",
      { ...pools(), maxReplicationLag: "5s" },
      TypeError,
      /maxReplicationLag must be a number of milliseconds, got "5s"/,
    ],
    [
      "NaN healthInterval",
      { ...pools(), healthInterval: NaN },
      RangeError,
      /healthInterval .* got NaN/,
    ],
    [
      "probeTimeout 0",
      { ...pools(), probeTimeout: 0 },
      RangeError,
      /probeTimeout must be at least 1 millisecond.*got 0/,
    ],
    [
      "readYourWritesWindow Infinity",
      { ...pools(), readYourWritesWindow: Infinity },
      RangeError,
      /readYourWritesWindow .* got Infinity/,
    ],
    [
      "an unknown readFallback",
      { ...pools(), readFallback: "replica" },
      RangeError,
      /readFallback must be "primary" or "fail", got "replica"/,
    ],
    [
      "onError not a function",
      { ...pools(), onError: 1 },
      TypeError,
      /onError must be a function, got 1/,
    ],
    [
      "a clock without timers",
      { ...pools(), clock: { now: () => 0 } },
      TypeError,
      /clock must implement Clock/,
    ],
  ];
  for (const [what, options, type, message] of cases) {
    it(`refuses ${what}`, () => {
      assert.throws(() => new ClusterPool(options as ClusterOptions), (error) => {
        assert.ok(error instanceof type, `${error}`);
        assert.match((error as Error).message, /^Cannot create cluster: /);
        assert.match((error as Error).message, message);
        return true;
      });
    });
  }

  it("refuses a pool or a pool name used twice", () => {
    const primary = member("same", clock).pool;
    assert.throws(
      () => new ClusterPool({ primary, replicas: [primary] }),
      (error) =>
        error instanceof RangeError &&
        /replicas\[0\] is a pool already in the cluster/.test(error.message),
    );
    assert.throws(
      () => new ClusterPool({ primary, replicas: [member("same", clock).pool] }),
      (error) =>
        error instanceof RangeError &&
        /replicas\[0\] is named "same" like another member; give each pool its own name option/
          .test(error.message),
    );
  });

  it("refuses a transaction without a function", async () => {
    const { cluster } = setUp({}, 1);
    await assert.rejects(
      cluster.transaction(undefined as unknown as () => void, { readOnly: true }),
      /Cannot run transaction: fn must be a function, got undefined/,
    );
    await cluster.close();
  });
});
