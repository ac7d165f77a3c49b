/**
 * One round of the cluster's health checks: every member is probed at once,
 * one query each, bounded by the probe timeout; then (for a cluster of
 * `members`, once the roles are learned from the same answers) each
 * member's standing is set from what it said. Changes for the worse go to
 * the error hook.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { PoolError } from "../errors.ts";
import { withTimeout } from "../_core/deadline.ts";
import { PrimaryReadOnlyError, ReplicationLagError } from "./errors.ts";
import type { PrimaryWalHistory } from "./_lag.ts";
import type { ClusterMember, MemberTrouble } from "./_member.ts";
import { type MemberState, probe } from "./_probes.ts";

/** What a round needs besides the members. */
export interface HealthSettings {
  clock: Clock;
  probeTimeout: number;
  /** 0 means no limit. */
  maxReplicationLag: number;
  history: PrimaryWalHistory;
  /** Aborts when the cluster closes: probes running stop, results are dropped, nothing is reported. */
  stop: AbortSignal;
  report(error: unknown, event: "healthCheck" | "replicationLag" | "role", member: string): void;
}

/** A probe's outcome. */
export interface Answer {
  state?: MemberState;
  error?: unknown;
  /** The clock's time when the answer came. */
  at: number;
  /** The member's `failovers` when it was asked. */
  failovers: number;
}

/** Each member's answer in one round. */
export type Answers = ReadonlyMap<ClusterMember, Answer>;

/** Probes every one of `members` at once. Never rejects. */
export async function probeAll(
  members: readonly ClusterMember[],
  settings: HealthSettings,
): Promise<Answers> {
  const answers = await Promise.all(members.map((member) => ask(member, settings)));
  return new Map(members.map((member, i) => [member, answers[i]]));
}

/** Sets the standing of `primary` and `replicas` from their answers in `answers`. */
export function applyHealth(
  primary: ClusterMember,
  replicas: readonly ClusterMember[],
  answers: Answers,
  settings: HealthSettings,
): void {
  applyPrimary(primary, answers.get(primary)!, settings);
  for (const replica of replicas) {
    const answer = answers.get(replica)!;
    // A read found it unreachable while this round ran: the answer may predate that.
    if (replica.failovers === answer.failovers) applyReplica(replica, answer, settings);
  }
  let slowest: bigint | undefined;
  for (const { replayLsn } of replicas) {
    if (replayLsn !== undefined && (slowest === undefined || replayLsn < slowest)) {
      slowest = replayLsn;
    }
  }
  if (slowest !== undefined) settings.history.trim(slowest);
}

function ask(
  member: ClusterMember,
  { clock, probeTimeout, stop }: HealthSettings,
): Promise<Answer> {
  const failovers = member.failovers;
  // Stopped with the cluster: a probe left running would hold its pool's close() for closeTimeout.
  return withTimeout(
    clock,
    probeTimeout,
    stop,
    () =>
      new PoolError(
        "HEALTH_CHECK_TIMEOUT",
        `Cannot check "${member.name}": no answer within probeTimeout (${probeTimeout} ms)`,
      ),
    (signal) => probe(member.pool, signal),
  ).then(
    (state) => ({ state, at: clock.now(), failovers }),
    (error) => ({ error, at: clock.now(), failovers }),
  );
}

function applyPrimary(
  primary: ClusterMember,
  answer: Answer,
  settings: HealthSettings,
): void {
  const state = counted(primary, answer, settings);
  if (state === undefined) return;
  const { readOnly, lsn } = state;
  if (lsn !== undefined) settings.history.record(answer.at, lsn);
  if (readOnly && !primary.readOnly) primary.removals++;
  primary.readOnly = readOnly;
  if (readOnly) {
    setTrouble(primary, "role", new PrimaryReadOnlyError(primary.name), "role", settings);
  } else {
    primary.trouble = undefined;
  }
}

function applyReplica(
  replica: ClusterMember,
  answer: Answer,
  settings: HealthSettings,
): void {
  const state = counted(replica, answer, settings);
  if (state === undefined) return;
  const { inRecovery, replayLsn } = state;
  if (!inRecovery) {
    // Promoted: it follows no primary, so it may miss the primary's writes and has no lag to measure.
    replica.lagMs = undefined;
    replica.replayLsn = undefined;
    const error = new PoolError(
      "REPLICA_NOT_IN_RECOVERY",
      `Replica "${replica.name}" is not in recovery (promoted?): out of rotation`,
    );
    setTrouble(replica, "role", error, "role", settings);
    return;
  }
  replica.replayLsn = replayLsn;
  const { history, maxReplicationLag } = settings;
  // With the primary's position never seen, lag cannot be measured: the replica stays in.
  replica.lagMs = history.known ? history.lag(replayLsn, answer.at) : undefined;
  if (maxReplicationLag > 0 && replica.lagMs !== undefined && replica.lagMs > maxReplicationLag) {
    const error = new ReplicationLagError(replica.name, replica.lagMs, maxReplicationLag);
    setTrouble(replica, "lag", error, "replicationLag", settings);
    return;
  }
  replica.trouble = undefined;
}

/** Counts a check; a member that did not answer is unreachable. Returns what it said, if it did. */
function counted(
  member: ClusterMember,
  answer: Answer,
  settings: HealthSettings,
): MemberState | undefined {
  if (answer.state === undefined) {
    member.checksFailed++;
    setTrouble(member, "unreachable", answer.error, "healthCheck", settings);
    return undefined;
  }
  member.checksPassed++;
  return answer.state;
}

/** Marks `member` in trouble; a change of trouble is counted and reported once. */
function setTrouble(
  member: ClusterMember,
  trouble: MemberTrouble,
  error: unknown,
  event: "healthCheck" | "replicationLag" | "role",
  settings: HealthSettings,
): void {
  if (member.trouble === trouble) return;
  if (member.trouble === undefined && member.role === "replica") member.removals++;
  member.trouble = trouble;
  settings.report(error, event, member.name);
}
