import type { PoolCounters } from "../pool_metrics.ts";

/** A fresh set of counters, all zero. */
export function zeroCounters(): PoolCounters {
  return {
    acquireCount: 0,
    waitCount: 0,
    waitDuration: 0,
    acquireTimeouts: 0,
    acquireRejections: 0,
    pipelinedStatements: 0,
    connectionsCreated: 0,
    connectErrors: 0,
    circuitOpens: 0,
    circuitRejections: 0,
    maxIdleClosed: 0,
    maxIdleTimeClosed: 0,
    maxLifetimeClosed: 0,
    connectionsLost: 0,
    poolResets: 0,
    resetClosed: 0,
    leaksDetected: 0,
    leaksReclaimed: 0,
    healthChecksPassed: 0,
    healthChecksFailed: 0,
    healthCheckDuration: 0,
    validationsFailed: 0,
    retries: 0,
  };
}
