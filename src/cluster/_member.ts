/**
 * One member of a cluster: its pool, its role, what the last health check
 * found, and what the cluster sent it.
 *
 * @module
 */

import type { ConnectionPool } from "../pool.ts";

/** Why a member is out of rotation (a replica) or refuses writes (the primary). */
export type MemberTrouble =
  /** Not checked yet: a replica waits for its first health check. */
  | "unchecked"
  /** Its probe failed or timed out, or a read could not reach it. */
  | "unreachable"
  /** A replica behind the primary by more than `maxReplicationLag`. */
  | "lag"
  /** A replica not in recovery (promoted), or a primary that reports read-only. */
  | "role";

/** A member's state, changed by the health checks and the router. */
export class ClusterMember {
  readonly name: string;
  /** Fixed, unless the cluster learns roles from the health checks (`members`). */
  role: "primary" | "replica";
  readonly pool: ConnectionPool;
  /** Undefined while in rotation (a replica) or taking writes and reachable (the primary). */
  trouble: MemberTrouble | undefined;
  /** The primary only: it reports read-only, so writes are refused. */
  readOnly = false;
  /** A replica only: milliseconds behind the primary at the last check; undefined when unknown. */
  lagMs: number | undefined;
  /** A replica only: the WAL position it had replayed at its last good check. */
  replayLsn: bigint | undefined;
  /** Operations the cluster sent it that have not finished: the load that routing balances. */
  inFlight = 0;
  /** Reads the cluster routed to it. */
  reads = 0;
  /** Writes the cluster routed to it. */
  writes = 0;
  /** Cluster health-check probes by outcome. */
  checksPassed = 0;
  checksFailed = 0;
  /** Times it left rotation (a replica) or turned read-only (the primary). */
  removals = 0;
  /**
   * Times a read found it unreachable. A health round that began before
   * such a find does not put it back: its probe may have run while it was up.
   */
  failovers = 0;

  constructor(pool: ConnectionPool, role: "primary" | "replica", checked: boolean) {
    this.pool = pool;
    this.name = pool.name;
    this.role = role;
    this.trouble = checked || role === "primary" ? undefined : "unchecked";
  }

  /** A replica in rotation, or a primary whose last check passed. */
  get healthy(): boolean {
    return this.trouble === undefined;
  }
}
