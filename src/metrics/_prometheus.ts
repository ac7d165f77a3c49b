/**
 * The Prometheus text exposition of pools' metrics, as the metrics handler
 * serves it at `/metrics`: one family per counter and gauge, the acquire
 * histogram, and the cluster members' families.
 *
 * @module
 */

import type { ClusterMemberMetrics } from "../cluster/metrics.ts";
import type { ConnectionPool } from "../pool.ts";
import type { PoolMetrics } from "../pool_metrics.ts";

/** One pool as a request reads it, with its standing when it is a cluster member. */
export interface Served {
  pool: ConnectionPool;
  metrics: PoolMetrics;
  member?: ClusterMemberMetrics;
}

type Sample = [labels: string, value: number];

interface Family {
  name: string;
  type: "gauge" | "counter";
  help: string;
  samples: (m: PoolMetrics) => Sample[];
}

const one = (value: number): Sample[] => [["", value]];

const FAMILIES: readonly Family[] = [
  gauge("connections_open", "Connections open or being opened.", (m) => m.openConnections),
  gauge("connections_in_use", "Connections held by callers.", (m) => m.inUse),
  gauge("connections_idle", "Connections ready to be handed out.", (m) => m.idle),
  gauge("connections_max", "The maxOpenConns limit.", (m) => m.maxOpenConnections),
  gauge("waiting_callers", "Callers waiting for a connection.", (m) => m.waiting),
  counter("acquires_total", "Connections handed to callers.", (m) => one(m.acquireCount)),
  counter("waits_total", "Acquisitions that had to wait.", (m) => one(m.waitCount)),
  counter(
    "pipelined_statements_total",
    "Statements sent on a connection that already had one in flight.",
    (m) => one(m.pipelinedStatements),
  ),
  counter(
    "acquire_timeouts_total",
    "Waits that ended with AcquireTimeoutError.",
    (m) => one(m.acquireTimeouts),
  ),
  counter(
    "connections_created_total",
    "Connections the driver opened.",
    (m) => one(m.connectionsCreated),
  ),
  counter("connections_closed_total", "Connections closed, by reason.", (m) => [
    [',reason="max_idle"', m.maxIdleClosed],
    [',reason="max_idle_time"', m.maxIdleTimeClosed],
    [',reason="max_lifetime"', m.maxLifetimeClosed],
    [',reason="lost"', m.connectionsLost],
    [',reason="reset"', m.resetClosed],
  ]),
  counter(
    "retries_total",
    "Statements and transactions run again after a retryable failure.",
    (m) => one(m.retries),
  ),
  counter("health_checks_total", "Health-check pings, by result.", (m) => [
    [',result="passed"', m.healthChecksPassed],
    [',result="failed"', m.healthChecksFailed],
  ]),
  counter(
    "connect_errors_total",
    "Connects that failed or timed out.",
    (m) => one(m.connectErrors),
  ),
  counter(
    "leaks_total",
    "Loans held past leakDetectionThreshold, and handles lost unreleased.",
    (m) => [
      [',kind="detected"', m.leaksDetected],
      [',kind="reclaimed"', m.leaksReclaimed],
    ],
  ),
  {
    name: "xpool_utilization_ratio",
    type: "gauge",
    help: "Share of open-connection time in use over the last 10 s, from 0 to 1.",
    samples: (m) => one(m.utilization / 100),
  },
  {
    name: "xpool_circuit_state",
    type: "gauge",
    help: "The circuit breaker's state: 1 for the current one, 0 for the others.",
    samples: (m) => [
      [',state="closed"', m.circuitState === "closed" ? 1 : 0],
      [',state="open"', m.circuitState === "open" ? 1 : 0],
      [',state="half_open"', m.circuitState === "halfOpen" ? 1 : 0],
    ],
  },
  counter(
    "circuit_opens_total",
    "Times the circuit breaker opened from closed.",
    (m) => one(m.circuitOpens),
  ),
  counter(
    "circuit_rejections_total",
    "Calls refused with CircuitOpenError.",
    (m) => one(m.circuitRejections),
  ),
];

function gauge(name: string, help: string, value: (m: PoolMetrics) => number): Family {
  return { name: `xpool_${name}`, type: "gauge", help, samples: (m) => one(value(m)) };
}

function counter(name: string, help: string, samples: (m: PoolMetrics) => Sample[]): Family {
  return { name: `xpool_${name}`, type: "counter", help, samples };
}

const HISTOGRAM = "xpool_acquire_duration_seconds";

/** The text served at `/metrics` for `pools`. */
export function prometheusText(pools: readonly Served[]): string {
  const snapshots = pools.map(({ pool, metrics, member }) => ({
    label: `pool="${escapeLabel(pool.name)}"` + (member ? `,role="${member.role}"` : ""),
    metrics,
    histogram: pool.getAcquireHistogram(),
    member,
  }));
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const { label, metrics } of snapshots) {
      for (const [labels, value] of family.samples(metrics)) {
        lines.push(`${family.name}{${label}${labels}} ${formatValue(value)}`);
      }
    }
  }
  lines.push(
    `# HELP ${HISTOGRAM} Time from getConnection() to hand-out; a hand-out from the idle set counts as 0.`,
    `# TYPE ${HISTOGRAM} histogram`,
  );
  for (const { label, histogram } of snapshots) {
    for (const { le, count } of histogram.buckets) {
      lines.push(`${HISTOGRAM}_bucket{${label},le="${formatValue(le / 1_000)}"} ${count}`);
    }
    lines.push(
      `${HISTOGRAM}_sum{${label}} ${formatValue(histogram.sum / 1_000)}`,
      `${HISTOGRAM}_count{${label}} ${histogram.count}`,
    );
  }
  const members = snapshots.filter((snapshot) => snapshot.member !== undefined);
  if (members.length > 0) {
    for (const family of MEMBER_FAMILIES) {
      const samples = members.flatMap(({ label, member }) => {
        const value = family.value(member!);
        return value === undefined ? [] : [`${family.name}{${label}} ${formatValue(value)}`];
      });
      if (samples.length === 0) continue;
      lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
      lines.push(...samples);
    }
  }
  return lines.join("\n") + "\n";
}

/** A family of cluster members' samples; `value` is undefined for a member it does not apply to. */
interface MemberFamily {
  name: string;
  type: "gauge" | "counter";
  help: string;
  value: (member: ClusterMemberMetrics) => number | undefined;
}

const MEMBER_FAMILIES: readonly MemberFamily[] = [
  {
    name: "xpool_cluster_member_healthy",
    type: "gauge",
    help: "1 while a replica is in rotation, or the primary passes its checks and takes writes.",
    value: (member) => member.healthy ? 1 : 0,
  },
  {
    name: "xpool_cluster_replication_lag_seconds",
    type: "gauge",
    help: "How far a replica was behind the primary at its last check, when known.",
    value: (member) =>
      member.role === "replica" && member.lagMs !== null ? member.lagMs / 1_000 : undefined,
  },
  {
    name: "xpool_cluster_primary_read_only",
    type: "gauge",
    help: "1 while the primary reports transaction_read_only = on, so writes are refused.",
    value: (member) => member.role === "primary" ? (member.readOnly ? 1 : 0) : undefined,
  },
  {
    name: "xpool_cluster_reads_total",
    type: "counter",
    help: "Reads the cluster routed to the member.",
    value: (member) => member.reads,
  },
  {
    name: "xpool_cluster_writes_total",
    type: "counter",
    help: "Writes the cluster routed to the member.",
    value: (member) => member.writes,
  },
];

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value); // NaN prints as "NaN", as the format wants.
}
