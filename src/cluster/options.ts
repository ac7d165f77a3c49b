/**
 * A cluster's options: what each one means, its unit and its default.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { ConnectionPool } from "../pool.ts";

/**
 * Events a cluster reports to its `onError` hook:
 * - `"healthCheck"`: a member's probe failed or timed out; a replica leaves
 *   rotation, the primary is marked unhealthy (writes still go to it).
 * - `"replicationLag"`: a replica fell further behind than
 *   `maxReplicationLag` and left rotation (a `ReplicationLagError`).
 * - `"role"`: the primary reports `transaction_read_only = on` and writes are
 *   refused (a `PrimaryReadOnlyError`), or a replica is no longer in
 *   recovery (promoted) and left rotation; or, with `members`, none or
 *   several members are primary (a `NoPrimaryError`).
 * - `"readFailover"`: a read found a replica unreachable (it refused
 *   connections, or the connection broke) between two health checks; the
 *   replica left rotation and the read ran again on the next choice. A
 *   `PoolError` with code `REPLICA_UNREACHABLE`, the failure as `cause`.
 *
 * @example
 * ```ts
 * import type { ClusterErrorEvent } from "@x/pool/cluster";
 *
 * const event: ClusterErrorEvent = "replicationLag";
 * ```
 */
export type ClusterErrorEvent = "healthCheck" | "replicationLag" | "role" | "readFailover";

/**
 * Options for a {@linkcode ClusterPool}. Every duration is in milliseconds.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { type ClusterOptions } from "@x/pool/cluster";
 *
 * const options: ClusterOptions = {
 *   primary: new ConnectionPool({ driver: postgresDriver("postgres://app@db-1/app"), name: "db-1" }),
 *   replicas: [new ConnectionPool({ driver: postgresDriver("postgres://app@db-2/app"), name: "db-2" })],
 *   maxReplicationLag: 5_000,
 *   readYourWritesWindow: 10_000,
 * };
 * ```
 */
export interface ClusterOptions {
  /**
   * The pool of the primary, which takes the writes. Required unless
   * `members` is given. The cluster owns it and closes it.
   */
  primary?: ConnectionPool;
  /**
   * The pools of the replicas, which take the reads; may be empty. Every
   * member needs its own pool `name`, which labels it. The cluster owns them.
   * Required with `primary`.
   */
  replicas?: readonly ConnectionPool[];
  /**
   * Instead of `primary` and `replicas`: the pools of every server, without
   * fixed roles. Each health check learns each member's role
   * (`pg_is_in_recovery()`): writes go to the one member that is not in
   * recovery, reads to the others. After a failover, writes follow the
   * promoted member and the old primary takes reads once it is back as a
   * standby. While none, or more than one, is a primary, writes are refused
   * with `NoPrimaryError`; writes and reads wait for the first check. Needs
   * `healthInterval` above 0.
   */
  members?: readonly ConnectionPool[];
  /**
   * Milliseconds between health checks of every member: one probe each (see
   * the README for what it asks). 0 turns them off; replicas are then always
   * in rotation, and neither lag nor roles are checked. Default 5,000 (5 s).
   */
  healthInterval?: number;
  /**
   * Milliseconds a probe may take, waiting for a connection included, before
   * it counts as failed: a member whose pool stays saturated that long fails
   * its check too. At least 1. Default 2,000 (2 s).
   */
  probeTimeout?: number;
  /**
   * Milliseconds a replica may lag behind the primary and stay in rotation,
   * measured on each health check by comparing WAL positions, in steps of
   * `healthInterval`. 0 means no limit. Default 10,000 (10 s).
   */
  maxReplicationLag?: number;
  /**
   * Where reads go when no replica is in rotation: `"primary"`, or `"fail"`
   * with `NoHealthyReplicaError`. Default `"primary"`.
   */
  readFallback?: "primary" | "fail";
  /**
   * Milliseconds after a write through a `cluster.session()` during which
   * that session's reads go to the primary. 0 turns it off. Default 0.
   */
  readYourWritesWindow?: number;
  /**
   * Told of health-check failures, replicas leaving rotation and role
   * changes, with the member's name (see {@linkcode ClusterErrorEvent}). An
   * error thrown by the hook is ignored. Default: none.
   */
  onError?: (error: unknown, event: ClusterErrorEvent, member: string) => void;
  /** The source of time and timers. Default {@linkcode systemClock}. */
  clock?: Clock;
}
