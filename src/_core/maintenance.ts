import { checkOut } from "./checks.ts";
import type { PoolCore } from "./core.ts";

/**
 * Starts the pool's timers: the health check every `healthInterval`, and a
 * sweep of idle connections past their limits. Returns what stops them.
 */
export function startMaintenance(core: PoolCore): () => void {
  const { clock, options: { healthInterval, connMaxIdleTime, connMaxLifetime } } = core;
  const healthTimer = healthInterval > 0
    ? clock.setInterval(() => checkHealth(core), healthInterval)
    : undefined;
  const shortestLimit = Math.min(connMaxIdleTime || Infinity, connMaxLifetime || Infinity);
  // Often enough that a connection outlives its limit by at most a quarter
  // of it, seldom enough to cost nothing; acquire and release check too.
  const sweepTimer = shortestLimit < Infinity
    ? clock.setInterval(() => sweep(core), Math.min(60_000, Math.max(1_000, shortestLimit / 4)))
    : undefined;
  return () => {
    if (healthTimer !== undefined) clock.clearInterval(healthTimer);
    if (sweepTimer !== undefined) clock.clearInterval(sweepTimer);
  };
}

/** Pings idle connections unused since the last check, without blocking getConnection(). */
export function checkHealth(core: PoolCore): void {
  const { clock, counters } = core;
  const idle = core.ledger.idle;
  const start = clock.now();
  const unusedSince = start - core.options.healthInterval;
  // Backwards: each connection checked or retired leaves the idle set.
  for (let i = idle.length - 1; i >= 0; i--) {
    const entry = idle[i];
    // A connection used since the last check proved itself then.
    if (entry.lastUsedAt > unusedSince) continue;
    const limit = core.expiry(entry, start);
    if (limit !== undefined) {
      core.retire(entry, limit);
      continue;
    }
    checkOut(
      core,
      entry,
      "checking",
      "Health check failed",
      (signal) => entry.driverConnection.ping(signal),
      (end) => {
        counters.healthChecksPassed++;
        counters.healthCheckDuration += end - start;
        core.validator.roundTrips.sample(end - start);
        core.recycle(entry, end);
      },
      (error) => {
        if (!core.closing) {
          counters.healthChecksFailed++;
          counters.healthCheckDuration += clock.now() - start;
          core.background.report(error, "healthCheck");
          core.validator.provedDead(clock.now());
        }
        core.retire(entry);
      },
    );
  }
}

/** Retires idle connections past their limits. */
export function sweep(core: PoolCore): void {
  const now = core.clock.now();
  const idle = core.ledger.idle;
  for (let i = idle.length - 1; i >= 0; i--) {
    const limit = core.expiry(idle[i], now);
    if (limit !== undefined) core.retire(idle[i], limit);
  }
}
