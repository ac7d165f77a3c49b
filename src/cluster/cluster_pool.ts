/**
 * A cluster of one primary and any number of replicas, each a
 * {@linkcode ConnectionPool}: writes go to the primary, reads marked as such
 * to a healthy replica that is not too far behind.
 *
 * @module
 */

import { systemClock, type TimerHandle } from "../clock.ts";
import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import { PoolClosedError } from "../errors.ts";
import type { ConnectionPool } from "../pool.ts";
import type { Transaction, TransactionOptions } from "../transaction.ts";
import { applyHealth, type HealthSettings, probeAll } from "./_health.ts";
import { learnRoles } from "./_roles.ts";
import { PrimaryWalHistory } from "./_lag.ts";
import { ClusterMember } from "./_member.ts";
import { clusterMetrics, memberInfo } from "./_collect_metrics.ts";
import type { ClusterMemberInfo, ClusterMetrics } from "./metrics.ts";
import type { ClusterErrorEvent, ClusterOptions } from "./options.ts";
import { resolveClusterOptions } from "./_resolve_options.ts";
import { ClusterRouter } from "./_router.ts";
import type { ClusterSession } from "./session.ts";
import { Session } from "./_session.ts";

/**
 * One primary and N replicas, each a {@linkcode ConnectionPool} of its own.
 *
 * - `execute`, `beginTx` and `transaction` go to the primary. Reads marked as
 *   such (`executeRead`, `beginTx({ readOnly: true })`,
 *   `transaction(fn, { readOnly: true })`) go to the replica in rotation with
 *   the fewest operations of the cluster's running on it, ties in turn.
 * - Every `healthInterval` one probe per member (bounded by `probeTimeout`)
 *   checks it: a replica that fails, is no longer in recovery, or lags behind
 *   the primary by more than `maxReplicationLag` leaves rotation until a
 *   check finds it well again. Reads wait for the first round of checks.
 * - With no replica in rotation, reads go to the primary, or fail with
 *   `NoHealthyReplicaError` when `readFallback` is `"fail"`.
 * - A read that finds its replica unreachable between two checks (its pool
 *   cannot connect and has no connection open, or the connection breaks or
 *   the server says it is shutting down under the read) takes the replica
 *   out of rotation at once, reported to `onError` as `"readFailover"`, and
 *   runs once more on the next choice (another replica, else as
 *   `readFallback` says). It does not wait out the replica pool's
 *   `acquireTimeout`: the wait for a replica connection ends within about
 *   20 ms of the pool's first failed connect with none open, or of the
 *   replica leaving rotation. This covers `executeRead` and the `BEGIN` of
 *   a read-only transaction; never a statement error the server answered,
 *   the caller's abort or timeout, or anything after a transaction's
 *   function has started. The replica comes back through the health checks.
 * - `transaction(fn, { retries })` retries as `ConnectionPool.transaction`
 *   does: a write on the primary, a read-only transaction on a replica
 *   chosen anew for each attempt, its retry counted in the `retries` of the
 *   member it failed on.
 * - A primary that reports `transaction_read_only = on` (demoted by a
 *   failover) has its writes refused with `PrimaryReadOnlyError` until a
 *   check finds it writable; reported to `onError` as `"role"`.
 * - Given `members` instead of `primary` and `replicas`, the cluster learns
 *   the roles on every check: writes go to the one member not in recovery,
 *   and follow it after a failover; the others serve reads. While none or
 *   several are primary, writes fail with `NoPrimaryError`.
 *
 * The cluster owns its pools: `close()` closes them all.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { ClusterPool } from "@x/pool/cluster";
 *
 * await using cluster = new ClusterPool({
 *   primary: new ConnectionPool({ driver: postgresDriver("postgres://app@db-1/app"), name: "db-1" }),
 *   replicas: [
 *     new ConnectionPool({ driver: postgresDriver("postgres://app@db-2/app"), name: "db-2" }),
 *     new ConnectionPool({ driver: postgresDriver("postgres://app@db-3/app"), name: "db-3" }),
 *   ],
 *   maxReplicationLag: 5_000,
 *   onError: (error, event, member) => console.error(`cluster ${event} on ${member}:`, error),
 * });
 * await cluster.execute("insert into users (name) values ($1)", ["Ada"]);
 * const { rows } = await cluster.executeRead("select count(*) from users");
 * ```
 */
export class ClusterPool implements AsyncDisposable {
  readonly #router: ClusterRouter;
  /** With `members`: every member, in the order given, whose roles each round learns. */
  readonly #learning: readonly ClusterMember[] | undefined;
  readonly #health: HealthSettings;
  readonly #interval: TimerHandle | undefined;
  readonly #stop = new AbortController();
  #round: Promise<void> | undefined;
  #firstRound: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  /**
   * Creates a cluster over existing pools, and starts its health checks: the
   * first round at once.
   *
   * @param options The pools and the health and routing settings; see {@linkcode ClusterOptions}.
   * @throws {TypeError} An unknown option, an option of the wrong type, or a member that is not a `ConnectionPool`.
   * @throws {RangeError} A duration out of range, an unknown `readFallback`, or a pool or pool name used twice.
   */
  constructor(options: ClusterOptions) {
    const resolved = resolveClusterOptions(options);
    const clock = resolved.clock ?? systemClock;
    const checking = resolved.healthInterval > 0;
    const primary = new ClusterMember(resolved.primary, "primary", true);
    const replicas = resolved.replicas.map((pool) => new ClusterMember(pool, "replica", !checking));
    const onError = resolved.onError;
    const report = (error: unknown, event: ClusterErrorEvent, member: string) => {
      try {
        onError?.(error, event, member);
      } catch {
        // The hook's own failure must not stop the health checks or a read.
      }
    };
    this.#router = new ClusterRouter(primary, replicas, {
      clock,
      readFallback: resolved.readFallback,
      readYourWritesWindow: resolved.readYourWritesWindow,
      firstRound: () => this.#firstRound,
      learnsRoles: resolved.learnsRoles,
      report,
    });
    this.#learning = resolved.learnsRoles ? [primary, ...replicas] : undefined;
    this.#health = {
      clock,
      probeTimeout: resolved.probeTimeout,
      maxReplicationLag: resolved.maxReplicationLag,
      history: new PrimaryWalHistory(),
      stop: this.#stop.signal,
      report,
    };
    if (checking) {
      const first = this.checkHealth();
      this.#firstRound = first;
      first.then(() => {
        if (this.#firstRound === first) this.#firstRound = undefined;
      });
      this.#interval = clock.setInterval(() => void this.checkHealth(), resolved.healthInterval);
    }
  }

  /**
   * The primary's pool.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * await using conn = await cluster.primary.getConnection(); // a connection of your own on the primary
   * ```
   */
  get primary(): ConnectionPool {
    return this.#router.primary.pool;
  }

  /**
   * Runs one statement on the primary, as a write.
   *
   * @param text The SQL text, with `$1`, `$2`, ... for parameters.
   * @param params The parameters' values.
   * @param options A signal and a statement timeout, as for `ConnectionPool.execute`.
   * @returns The rows, the row count and the command tag.
   * @throws {PrimaryReadOnlyError} When the primary reports read-only.
   * @throws {PoolClosedError} When the cluster is closed.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * await cluster.execute("insert into users (name) values ($1)", ["Ada"]);
   * ```
   */
  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return this.#router.execute<Row>(text, params, options, undefined);
  }

  /**
   * Runs one read-only statement on a replica in rotation: the one with the
   * fewest of the cluster's operations running, ties in turn; or on the
   * primary when none is in rotation (see `readFallback`). The statement is
   * not checked for being a read: a write sent here fails on a replica. A
   * replica found unreachable leaves rotation and the read runs once more
   * on the next choice (see the class doc).
   *
   * @param text The SQL text, with `$1`, `$2`, ... for parameters.
   * @param params The parameters' values.
   * @param options A signal and a statement timeout, as for `ConnectionPool.execute`.
   * @returns The rows, the row count and the command tag.
   * @throws {NoHealthyReplicaError} With no replica in rotation and `readFallback: "fail"`.
   * @throws {PoolClosedError} When the cluster is closed.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * const { rows } = await cluster.executeRead("select name from users where id = $1", [1]);
   * ```
   */
  executeRead<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return this.#router.executeRead<Row>(text, params, options, undefined);
  }

  /**
   * Starts a transaction: on a replica when `readOnly` is true (chosen as
   * for `executeRead`), else on the primary.
   *
   * @param options As for `ConnectionPool.beginTx`; `readOnly: true` routes it to a replica.
   * @returns The open transaction; `commit()` or `rollback()` ends it.
   * @throws {PrimaryReadOnlyError} A writing transaction while the primary reports read-only.
   * @throws {NoHealthyReplicaError} A read-only one with no replica in rotation and `readFallback: "fail"`.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * await using tx = await cluster.beginTx({ readOnly: true, isolationLevel: "repeatable read" });
   * const { rows } = await tx.execute("select count(*) from users");
   * await tx.commit();
   * ```
   */
  beginTx(options?: TransactionOptions): Promise<Transaction> {
    return this.#router.beginTx(options, undefined);
  }

  /**
   * Runs `fn` in a transaction, on a replica when `readOnly` is true, else
   * on the primary: commits when it returns, rolls back when it throws.
   * With `retries`, runs `fn` again as `ConnectionPool.transaction` does; a
   * read-only transaction's next attempt goes to the replica a new read
   * would get.
   *
   * @param fn The work.
   * @param options As for {@linkcode ClusterPool.beginTx}, and `retries`.
   * @returns What `fn` returned.
   * @throws {RangeError} A `retries` that is not a non-negative integer.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * const total = await cluster.transaction(async (tx) => {
   *   const { rows } = await tx.execute<{ total: string }>("select sum(balance) as total from accounts");
   *   return rows[0].total;
   * }, { readOnly: true, retries: 2 });
   * ```
   */
  transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options?: TransactionOptions,
  ): Promise<T> {
    return this.#router.transaction(fn, options, undefined);
  }

  /**
   * A session whose reads see its own writes: for `readYourWritesWindow`
   * milliseconds after each write through it ends, its reads go to the
   * primary. Sessions are independent; writes through the cluster itself
   * pin nothing. With the window 0, a session routes as the cluster does.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * const session = cluster.session();
   * await session.execute("insert into orders (user_id) values ($1)", [1]);
   * await session.executeRead("select * from orders where user_id = $1", [1]); // sees the insert
   * ```
   */
  session(): ClusterSession {
    return new Session(this.#router);
  }

  /**
   * Runs a round of health checks now, or joins the one running, and
   * resolves when it has ended. Never rejects: failures go to `onError`.
   *
   * @example After a planned failover, re-check before the next interval
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * await cluster.checkHealth();
   * console.log(cluster.members().map((m) => `${m.name}: ${m.healthy}`));
   * ```
   */
  checkHealth(): Promise<void> {
    if (this.#router.closed) return Promise.resolve();
    if (this.#round === undefined) {
      const router = this.#router;
      const learning = this.#learning;
      const health = this.#health;
      // One probe per member answers both the roles and the health.
      this.#round = probeAll(learning ?? [router.primary, ...router.replicas], health)
        .then((answers) => {
          if (health.stop.aborted) return;
          if (learning !== undefined) learnRoles(router, learning, answers, health);
          applyHealth(router.primary, router.replicas, answers, health);
        })
        .catch((error) => this.#health.report(error, "healthCheck", router.primary.name))
        .finally(() => {
          this.#round = undefined;
        });
    }
    return this.#round;
  }

  /**
   * The members, primary first, with their role, pool, standing and lag:
   * what a metrics handler needs to label each one.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * for (const { name, role, healthy, lagMs, pool } of cluster.members()) {
   *   console.log(name, role, healthy, lagMs, pool.getMetrics().inUse);
   * }
   * ```
   */
  members(): ClusterMemberInfo[] {
    const { primary, replicas } = this.#router;
    return [primary, ...replicas].map(memberInfo);
  }

  /**
   * Each member's pool metrics with its role, standing and routing counts,
   * the sums over members, and the cluster's routing counters. Costs one
   * `getMetrics()` per member.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * const { totals, healthyReplicas, fallbackReads } = cluster.getMetrics();
   * console.log(totals.inUse, healthyReplicas, fallbackReads);
   * ```
   */
  getMetrics(): ClusterMetrics {
    return clusterMetrics(this.#router);
  }

  /**
   * Stops the health checks and closes every member's pool (see
   * `ConnectionPool.close`). Later calls are refused with `PoolClosedError`.
   * Calling it again returns the same promise.
   *
   * @example
   * ```ts
   * import { ClusterPool } from "@x/pool/cluster";
   *
   * declare const cluster: ClusterPool;
   * await cluster.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      const router = this.#router;
      router.closed = true;
      this.#stop.abort(new PoolClosedError("Cannot check health: the cluster is closed"));
      if (this.#interval !== undefined) this.#health.clock.clearInterval(this.#interval);
      const pools = [router.primary, ...router.replicas].map(({ pool }) => pool.close());
      this.#closed = Promise.all(pools).then(() => this.#round);
    }
    return this.#closed;
  }

  /** Closes the cluster, as {@linkcode ClusterPool.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
