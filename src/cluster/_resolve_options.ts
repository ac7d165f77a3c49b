import type { Clock } from "../clock.ts";
import { describe, isClock, validateDuration } from "../_core/options.ts";
import { UniqueNames } from "../_core/unique_names.ts";
import { ConnectionPool } from "../pool.ts";
import type { ClusterErrorEvent, ClusterOptions } from "./options.ts";

/** Options with every default filled in. */
export interface ResolvedClusterOptions {
  /** With `members`: the first one, until the health checks say which is primary. */
  primary: ConnectionPool;
  replicas: readonly ConnectionPool[];
  /** Whether the roles come from the health checks (`members`) rather than the options. */
  learnsRoles: boolean;
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
  "members",
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
  const { onError, clock } = options;
  const learnsRoles = options.members !== undefined;
  const [primary, replicas] = learnsRoles
    ? fromMembers(options)
    : [options.primary, options.replicas];
  if (!(primary instanceof ConnectionPool)) {
    throw new TypeError(`${PREFIX} primary must be a ConnectionPool, got ${describe(primary)}`);
  }
  if (!Array.isArray(replicas)) {
    throw new TypeError(
      `${PREFIX} replicas must be an array of ConnectionPool, got ${describe(replicas)}`,
    );
  }
  const names = new UniqueNames(PREFIX, "member");
  names.add(primary.name, "primary");
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
    names.add(replica.name, `replicas[${i}]`);
    pools.add(replica);
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
  if (learnsRoles && durations.healthInterval === 0) {
    throw new RangeError(
      `${PREFIX} members need health checks to learn their roles, so healthInterval cannot be 0`,
    );
  }
  return {
    primary,
    replicas: [...replicas],
    learnsRoles,
    ...durations,
    readFallback,
    onError,
    clock,
  };
}

/** `members` as a provisional primary and replicas; refused beside `primary` or `replicas`. */
function fromMembers(options: ClusterOptions): [unknown, unknown] {
  const { members, primary, replicas } = options;
  if (primary !== undefined || replicas !== undefined) {
    throw new TypeError(
      `${PREFIX} give either members, or primary and replicas, not both`,
    );
  }
  if (!Array.isArray(members) || members.length === 0) {
    throw new TypeError(
      `${PREFIX} members must be a non-empty array of ConnectionPool, got ${describe(members)}`,
    );
  }
  return [members[0], members.slice(1)];
}
