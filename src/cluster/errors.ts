/**
 * The errors of a {@linkcode ClusterPool}: refused writes and reads, and the
 * conditions it reports to its `onError` hook.
 *
 * @module
 */

import { PoolError } from "../errors.ts";

/**
 * Thrown to a write (and reported to `onError` as `"role"`) when the member
 * configured as primary reports `transaction_read_only = on`: a primary
 * demoted by a failover, or set read-only by its operator. Writes are refused
 * without a round trip until a health check finds it writable again.
 *
 * @example
 * ```ts
 * import { PrimaryReadOnlyError } from "@x/pool/cluster";
 *
 * const error = new PrimaryReadOnlyError("main");
 * console.log(error.code, error.member); // "PRIMARY_READ_ONLY" "main"
 * ```
 */
export class PrimaryReadOnlyError extends PoolError {
  /** The primary's pool name. */
  readonly member: string;

  /**
   * Creates the error.
   *
   * @param member The primary's pool name.
   */
  constructor(member: string) {
    super(
      "PRIMARY_READ_ONLY",
      `Cannot write: the primary "${member}" reports transaction_read_only = on (demoted by a failover?)`,
    );
    this.member = member;
  }
}

/**
 * Thrown to a write (and reported to `onError` as `"role"`) by a cluster
 * given `members` without roles, while no single member is a primary: none
 * is (a failover under way), or several claim it. Writes are refused without
 * a round trip until a health check finds exactly one primary.
 *
 * @example
 * ```ts
 * import { NoPrimaryError } from "@x/pool/cluster";
 *
 * const error = new NoPrimaryError(["db-1", "db-2"]);
 * console.log(error.code, error.claimants); // "NO_PRIMARY" ["db-1", "db-2"]
 * ```
 */
export class NoPrimaryError extends PoolError {
  /** The members that report being a primary: none, or more than one. */
  readonly claimants: readonly string[];

  /**
   * Creates the error.
   *
   * @param claimants The members that report being a primary.
   */
  constructor(claimants: readonly string[]) {
    super(
      "NO_PRIMARY",
      claimants.length === 0
        ? "Cannot write: no member of the cluster is a primary (a failover under way?)"
        : `Cannot write: ${claimants.length} members claim to be the primary (${
          claimants.map((name) => `"${name}"`).join(", ")
        }); writes wait until one steps down`,
    );
    this.claimants = [...claimants];
  }
}

/**
 * Thrown to a read when no replica is in rotation and the cluster's
 * `readFallback` is `"fail"`.
 *
 * @example
 * ```ts
 * import { NoHealthyReplicaError } from "@x/pool/cluster";
 *
 * const error = new NoHealthyReplicaError(2);
 * console.log(error.code, error.replicas); // "NO_HEALTHY_REPLICA" 2
 * ```
 */
export class NoHealthyReplicaError extends PoolError {
  /** How many replicas the cluster has, none of them in rotation. */
  readonly replicas: number;

  /**
   * Creates the error.
   *
   * @param replicas How many replicas the cluster has.
   */
  constructor(replicas: number) {
    super(
      "NO_HEALTHY_REPLICA",
      `Cannot read: none of the ${replicas} replicas is healthy, and readFallback is "fail"`,
    );
    this.replicas = replicas;
  }
}

/**
 * Reported to the cluster's `onError` as `"replicationLag"` when a replica
 * falls further behind the primary than `maxReplicationLag` and is taken out
 * of rotation. Never thrown to a caller.
 *
 * @example
 * ```ts
 * import { ReplicationLagError } from "@x/pool/cluster";
 *
 * const error = new ReplicationLagError("replica-1", 12_000, 10_000);
 * console.log(error.code, error.lagMs, error.maxLagMs); // "REPLICATION_LAG" 12000 10000
 * ```
 */
export class ReplicationLagError extends PoolError {
  /** The replica's pool name. */
  readonly member: string;
  /** The lag measured, in milliseconds. */
  readonly lagMs: number;
  /** The cluster's `maxReplicationLag`. */
  readonly maxLagMs: number;

  /**
   * Creates the error.
   *
   * @param member The replica's pool name.
   * @param lagMs The lag measured, in milliseconds.
   * @param maxLagMs The limit it exceeded.
   */
  constructor(member: string, lagMs: number, maxLagMs: number) {
    super(
      "REPLICATION_LAG",
      `Replica "${member}" is ${lagMs} ms behind the primary, more than maxReplicationLag (${maxLagMs} ms): out of rotation`,
    );
    this.member = member;
    this.lagMs = lagMs;
    this.maxLagMs = maxLagMs;
  }
}
