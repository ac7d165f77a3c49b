/**
 * Checks a cluster's options and fills in the defaults, in the pool's style:
 * a TypeError or RangeError that names the option and the value.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { describe, isClock, validateDuration } from "./config.ts";
import { ConnectionPool } from "./pool.ts";

/**
 * Events a cluster reports to its `onError` hook:
 * - `"healthCheck"`: a member's probe failed or timed out; a replica leaves
 *   rotation, the primary is marked unhealthy (writes still go to it).
 * - `"replicationLag"`: a replica fell further behind than
 *   `maxReplicationLag` and left rotation (a `ReplicationLagError`).
 * - `"role"`: the primary reports `transaction_read_only = on` and writes are
 *   refused (a `PrimaryReadOnlyError`), or a replica is no longer in
 *   recovery (promoted) and left rotation.
 * - `"readFailover"`: a read found a replica unreachable (it refused
 *   connections, or the connection broke) between two health checks; the
 *   replica left rotation and the read ran again on the next choice. A
 *   `PoolError` with code `REPLICA_UNREACHABLE`, the failure as `cause`.
 *
 * @example
 * ```ts
 * import type { ClusterErrorEvent } from "@x/pool";
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
 * import { type ClusterOptions, ConnectionPool, postgresDriver } from "@x/pool";
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
  /** The pool of the primary, which takes the writes. Required. The cluster owns it and closes it. */
  primary: ConnectionPool;
  /**
   * The pools of the replicas, which take the reads; may be empty. Every
   * member needs its own pool `name`, which labels it. The cluster owns them.
   */
  replicas: readonly ConnectionPool[];
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

/** Options with every default filled in. */
export interface ResolvedClusterOptions {
  primary: ConnectionPool;
  replicas: readonly ConnectionPool[];
  healthInterval: number;
  probeTimeout: number;
  maxReplicationLag: number;
  readFallback: "primary" | "fail";
  readYourWritesWindow: number;
  onError: ((error: unknown, event: ClusterErrorEvent, member: string) => void) | undefined;
  clock: Clock | undefined;
}

const DURATION_DEFAULTS = {
  healthInterval: 5_000,
  probeTimeout: 2_000,
  maxReplicationLag: 10_000,
  readYourWritesWindow: 0,
} as const;

const KNOWN_OPTIONS = new Set<string>([
  "primary",
  "replicas",
  "readFallback",
  "onError",
  "clock",
  ...Object.keys(DURATION_DEFAULTS),
]);

const PREFIX = "Cannot create cluster:";

/**
 * Checks `options` and fills in the defaults.
 *
 * @throws {TypeError} An unknown option, an option of the wrong type, or a member that is not a ConnectionPool.
 * @throws {RangeError} A duration out of range, an unknown `readFallback`, or a pool or name used twice.
 */
export function resolveClusterOptions(options: ClusterOptions): ResolvedClusterOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${PREFIX} options must be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) throw new TypeError(`${PREFIX} unknown option "${name}"`);
  }
  const { primary, replicas, onError, clock } = options;
  if (!(primary instanceof ConnectionPool)) {
    throw new TypeError(`${PREFIX} primary must be a ConnectionPool, got ${describe(primary)}`);
  }
  if (!Array.isArray(replicas)) {
    throw new TypeError(
      `${PREFIX} replicas must be an array of ConnectionPool, got ${describe(replicas)}`,
    );
  }
  const names = new Set([primary.name]);
  const pools = new Set([primary]);
  replicas.forEach((replica: unknown, i) => {
    if (!(replica instanceof ConnectionPool)) {
      throw new TypeError(
        `${PREFIX} replicas[${i}] must be a ConnectionPool, got ${describe(replica)}`,
      );
    }
    if (pools.has(replica)) {
      throw new RangeError(`${PREFIX} replicas[${i}] is a pool already in the cluster`);
    }
    if (names.has(replica.name)) {
      throw new RangeError(
        `${PREFIX} replicas[${i}] is named "${replica.name}" like another member; give each pool its own name option`,
      );
    }
    pools.add(replica);
    names.add(replica.name);
  });
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError(`${PREFIX} onError must be a function, got ${describe(onError)}`);
  }
  if (clock !== undefined && !isClock(clock)) {
    throw new TypeError(`${PREFIX} clock must implement Clock, got ${describe(clock)}`);
  }
  const readFallback = options.readFallback ?? "primary";
  if (readFallback !== "primary" && readFallback !== "fail") {
    throw new RangeError(
      `${PREFIX} readFallback must be "primary" or "fail", got ${describe(readFallback)}`,
    );
  }
  const durations = {} as Record<keyof typeof DURATION_DEFAULTS, number>;
  for (const [name, fallback] of Object.entries(DURATION_DEFAULTS)) {
    const key = name as keyof typeof DURATION_DEFAULTS;
    durations[key] = validateDuration(`${PREFIX} ${name}`, options[key], fallback);
  }
  if (durations.probeTimeout < 1) {
    throw new RangeError(
      `${PREFIX} probeTimeout must be at least 1 millisecond (probes are always bounded), got ${durations.probeTimeout}`,
    );
  }
  return { primary, replicas: [...replicas], ...durations, readFallback, onError, clock };
}
