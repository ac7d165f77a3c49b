/**
 * How a cluster of `members` learns who is primary: from each health
 * round's answers, before the members' standing is set from the same
 * answers; the one member not in recovery becomes the primary, the others
 * replicas. With none or
 * several, writes are refused until a later round finds exactly one, so
 * two primaries never take writes at once.
 *
 * @module
 */

import { NoPrimaryError } from "./errors.ts";
import type { Answers, HealthSettings } from "./_health.ts";
import type { ClusterMember } from "./_member.ts";
import type { ClusterRouter } from "./_router.ts";

/** Sets the router's primary and replicas from what `members` answered. */
export function learnRoles(
  router: ClusterRouter,
  members: readonly ClusterMember[],
  answers: Answers,
  settings: HealthSettings,
): void {
  // A member that did not answer claims nothing: a primary cut off from the
  // cluster must not keep the writes once another has been promoted.
  const claimants = members.filter((member) => answers.get(member)?.state?.inRecovery === false);
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
      // Out of rotation until its answer in this round, applied next, shows it a replica in good standing.
      member.role = "replica";
      member.trouble = "unchecked";
      member.readOnly = false;
    }
  }
  router.primary = primary;
  router.replicas = members.filter((member) => member !== primary);
}
