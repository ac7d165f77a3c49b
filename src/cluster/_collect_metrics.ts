import type { ClusterMember } from "./_member.ts";
import type { ClusterRouter } from "./_router.ts";
import type {
  ClusterMemberInfo,
  ClusterMemberMetrics,
  ClusterMetrics,
  ClusterTotals,
} from "./metrics.ts";

const NOT_SUMMED = new Set(["acquireTimeP50", "acquireTimeP99", "utilization"]);

/** The metrics of the router's members. */
export function clusterMetrics(router: ClusterRouter): ClusterMetrics {
  const all = [router.primary, ...router.replicas];
  const members = all.map(memberMetrics);
  const totals: Record<string, number> = {};
  for (const { pool } of members) {
    for (const [key, value] of Object.entries(pool)) {
      if (typeof value === "number" && !NOT_SUMMED.has(key)) {
        totals[key] = (totals[key] ?? 0) + value;
      }
    }
  }
  return {
    ...router.counters,
    members,
    totals: totals as unknown as ClusterTotals,
    healthyReplicas: router.replicas.filter((replica) => replica.healthy).length,
  };
}

/** `member` as `members()` lists it. */
export function memberInfo(member: ClusterMember): ClusterMemberInfo {
  return {
    name: member.name,
    role: member.role,
    pool: member.pool,
    healthy: member.healthy,
    lagMs: member.lagMs ?? null,
    readOnly: member.readOnly,
  };
}

function memberMetrics(member: ClusterMember): ClusterMemberMetrics {
  const { pool: _, ...info } = memberInfo(member);
  return {
    ...info,
    inFlight: member.inFlight,
    reads: member.reads,
    writes: member.writes,
    healthChecksPassed: member.checksPassed,
    healthChecksFailed: member.checksFailed,
    removals: member.removals,
    pool: member.pool.getMetrics(),
  };
}
