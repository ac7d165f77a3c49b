/**
 * How a cluster of `members` learns who is primary: before each health
 * round, every member is asked whether it is in recovery; the one member
 * that is not becomes the primary, the others replicas. With none or
 * several, writes are refused until a later round finds exactly one, so
 * two primaries never take writes at once.
 *
 * @module
 */

import { NoPrimaryError } from "./errors.ts";
import { ask, type HealthSettings } from "./_health.ts";
import type { ClusterMember } from "./_member.ts";
import { probeReplica } from "./_probes.ts";
import type { ClusterRouter } from "./_router.ts";

/** Probes every member's role and sets the router's primary and replicas. Never rejects. */
export async function learnRoles(
  router: ClusterRouter,
  members: readonly ClusterMember[],
  settings: HealthSettings,
): Promise<void> {
  const answers = await Promise.all(members.map((member) => ask(member, probeReplica, settings)));
  if (settings.stop.aborted) return;
  // A member that did not answer claims nothing: a primary cut off from the
  // cluster must not keep the writes once another has been promoted.
  const claimants = members.filter((_, i) => answers[i].state?.inRecovery === false);
  if (claimants.length !== 1) {
    const names = claimants.map((member) => member.name);
    if (router.claimants?.join() !== names.join()) {
      settings.report(new NoPrimaryError(names), "role", router.primary.name);
    }
    router.claimants = names;
    return;
  }
  router.claimants = undefined;
  const primary = claimants[0];
  if (primary === router.primary && primary.role === "primary") return;
  for (const member of members) {
    if (member === primary) {
      member.role = "primary";
      member.trouble = undefined;
      member.lagMs = undefined;
      member.replayLsn = undefined;
    } else if (member.role === "primary") {
      // Out of rotation until its replica probe, in the round about to run, passes.
      member.role = "replica";
      member.trouble = "unchecked";
      member.readOnly = false;
    }
  }
  router.primary = primary;
  router.replicas = members.filter((member) => member !== primary);
}
