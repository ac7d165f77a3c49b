/**
 * A primary and its replicas as one pool: {@linkcode ClusterPool} sends
 * writes to the primary and marked reads to a healthy replica that is not
 * too far behind, checks every member on a timer, and fails reads over.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver } from "@x/pool";
 * import { ClusterPool } from "@x/pool/cluster";
 *
 * await using cluster = new ClusterPool({
 *   primary: new ConnectionPool({ driver: postgresDriver("postgres://app:secret@primary/app"), name: "primary" }),
 *   replicas: [
 *     new ConnectionPool({ driver: postgresDriver("postgres://app:secret@replica/app"), name: "replica" }),
 *   ],
 * });
 * await cluster.execute("insert into events (kind) values ($1)", ["signup"]);
 * const { rows } = await cluster.executeRead("select count(*) from events");
 * ```
 *
 * @module
 */

export { ClusterPool } from "./cluster_pool.ts";
export type { ClusterSession } from "./session.ts";
export type { ClusterErrorEvent, ClusterOptions } from "./options.ts";
export type {
  ClusterMemberInfo,
  ClusterMemberMetrics,
  ClusterMetrics,
  ClusterTotals,
} from "./metrics.ts";
export {
  NoHealthyReplicaError,
  NoPrimaryError,
  PrimaryReadOnlyError,
  ReplicationLagError,
} from "./errors.ts";
