import type { PoolMetrics } from "../pool_metrics.ts";
import type { PoolCore } from "./core.ts";

/** `pool.getMetrics()`: the counters, the connections by state, and the timings, read now. */
export function metricsSnapshot(core: PoolCore): PoolMetrics {
  const { ledger, connector: { connecting } } = core;
  return {
    ...core.counters,
    maxOpenConnections: core.options.maxOpenConns,
    openConnections: ledger.all.size + connecting,
    inUse: ledger.inUse,
    idle: ledger.idle.length,
    connecting,
    checking: ledger.checking + ledger.validating,
    waiting: core.waiters.size,
    circuitState: core.breaker.state,
    acquireTimeP50: core.acquireTimes.percentile(0.5),
    acquireTimeP99: core.acquireTimes.percentile(0.99),
    utilization: utilizationNow(core),
  };
}

/** `pool.getUtilization()`: the in-use share of open-connection time over the last 10 s, 0 to 100. */
export function utilizationNow(core: PoolCore): number {
  return core.ledger.utilization.percent(core.clock.now());
}
