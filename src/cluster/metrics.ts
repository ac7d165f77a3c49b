/**
 * A cluster's metrics: each member's pool metrics with its role and standing,
 * the sums over members, and the routing counts.
 *
 * @module
 */

import type { PoolMetrics } from "../pool_metrics.ts";
import type { ConnectionPool } from "../pool.ts";

/**
 * One member as `cluster.members()` lists it: what a metrics handler needs
 * to label it.
 *
 * @example
 * ```ts
 * import type { ClusterMemberInfo } from "@x/pool/cluster";
 *
 * function describe(member: ClusterMemberInfo): string {
 *   return `${member.name} (${member.role}) ${member.healthy ? "up" : "out"}, lag ${member.lagMs ?? "?"} ms`;
 * }
 * ```
 */
export interface ClusterMemberInfo {
  /** The member pool's `name`. */
  name: string;
  /** Its place in the cluster. */
  role: "primary" | "replica";
  /** The member's pool. */
  pool: ConnectionPool;
  /**
   * A replica: in rotation for reads. The primary: its last health check
   * passed and it takes writes (not read-only).
   */
  healthy: boolean;
  /**
   * A replica: milliseconds behind the primary at the last health check, or
   * null when unknown (never checked, unreachable, promoted, or the
   * primary's position never seen). The primary: null.
   */
  lagMs: number | null;
  /** The primary: it reports `transaction_read_only = on`, so writes are refused. A replica: false. */
  readOnly: boolean;
}

/**
 * One member's share of {@linkcode ClusterMetrics}.
 *
 * @example
 * ```ts
 * import type { ClusterMemberMetrics } from "@x/pool/cluster";
 *
 * const busiest = (members: ClusterMemberMetrics[]) =>
 *   members.reduce((a, b) => (b.pool.inUse > a.pool.inUse ? b : a));
 * ```
 */
export interface ClusterMemberMetrics {
  /** As in {@linkcode ClusterMemberInfo}. */
  name: string;
  /** As in {@linkcode ClusterMemberInfo}. */
  role: "primary" | "replica";
  /** As in {@linkcode ClusterMemberInfo}. */
  healthy: boolean;
  /** As in {@linkcode ClusterMemberInfo}. */
  lagMs: number | null;
  /** As in {@linkcode ClusterMemberInfo}. */
  readOnly: boolean;
  /** Operations the cluster sent it that have not finished: the load reads are balanced by. */
  inFlight: number;
  /** Reads the cluster routed to it (for the primary: fallbacks and read-your-writes reads). */
  reads: number;
  /** Writes the cluster routed to it. */
  writes: number;
  /** The cluster's health-check probes of it that passed. */
  healthChecksPassed: number;
  /** The cluster's health-check probes of it that failed or timed out. */
  healthChecksFailed: number;
  /** Times a replica left rotation, or the primary turned read-only. */
  removals: number;
  /** Its pool's own metrics, as `pool.getMetrics()`. */
  pool: PoolMetrics;
}

/**
 * The sums over every member of the pool metrics that add up: connection
 * counts, waiting callers and every counter. Percentiles and utilization do
 * not add, so they are left out; read them per member.
 *
 * @example
 * ```ts
 * import type { ClusterTotals } from "@x/pool/cluster";
 *
 * const spare = (totals: ClusterTotals) => totals.maxOpenConnections - totals.openConnections;
 * ```
 */
export type ClusterTotals = Omit<PoolMetrics, "acquireTimeP50" | "acquireTimeP99" | "utilization">;

/**
 * What `cluster.getMetrics()` returns.
 *
 * @example
 * ```ts
 * import type { ClusterMetrics } from "@x/pool/cluster";
 *
 * function report(metrics: ClusterMetrics): string {
 *   return `${metrics.healthyReplicas} replicas up, ${metrics.fallbackReads} reads fell back`;
 * }
 * ```
 */
export interface ClusterMetrics {
  /** The primary first, then the replicas in the order given. */
  members: ClusterMemberMetrics[];
  /** The sums over members. */
  totals: ClusterTotals;
  /** Reads sent to the primary because no replica was in rotation. */
  fallbackReads: number;
  /** Reads sent to the primary because their session wrote within `readYourWritesWindow`. */
  readYourWritesReads: number;
  /** Reads refused with `NoHealthyReplicaError` (`readFallback: "fail"`). */
  readsRefused: number;
  /** Writes refused with `PrimaryReadOnlyError`. */
  writesRefused: number;
  /**
   * Reads run a second time, on the next choice, because the replica they
   * were sent to could not be reached (see `onError`'s `"readFailover"`).
   */
  readsRetried: number;
  /** Replicas in rotation now. */
  healthyReplicas: number;
}
