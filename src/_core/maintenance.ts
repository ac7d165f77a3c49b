import { PoolError } from "../errors.ts";
import type { PoolCore } from "./core.ts";
import type { PoolEntry } from "./entry.ts";

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

/**
 * Rolls back a connection released mid-transaction (or, with `resetSession`,
 * clears its whole session), then reuses it, or closes it.
 */
export function resetThenRecycle(core: PoolCore, entry: PoolEntry): void {
  const connection = entry.driverConnection;
  checkOut(
    core,
    entry,
    "Cannot reset connection",
    (signal) =>
      core.options.resetSession && connection.discard !== undefined
        ? connection.discard(signal)
        : connection.reset(signal),
    (end) => core.recycle(entry, end),
    (error) => {
      if (!core.closing) core.background.report(error, "reset");
      // A reset that close() aborted lost nothing: the pool is closing the connection itself.
      core.retire(entry, core.closing ? undefined : "connectionsLost");
    },
  );
}

/**
 * Pings a connection idle past `validateAfterIdle` before it is handed out:
 * it then goes to the oldest waiter, or back to the idle set. One that fails
 * is closed, and a new connection is opened for the waiter it would have
 * served, which so never sees the error.
 */
export function validateIdle(core: PoolCore, entry: PoolEntry): void {
  core.validating++;
  checkOut(
    core,
    entry,
    "Validation failed",
    (signal) => entry.driverConnection.ping(signal),
    (end) => core.recycle(entry, end),
    (error) => {
      if (!core.closing) {
        core.counters.validationsFailed++;
        core.background.report(error, "validation");
      }
      core.retire(entry);
    },
    () => core.validating--,
  );
}

/** Pings idle connections unused since the last check, without blocking getConnection(). */
export function checkHealth(core: PoolCore): void {
  const { clock, idle, counters } = core;
  const start = clock.now();
  const unusedSince = start - core.options.healthInterval;
  for (let i = idle.length - 1; i >= 0; i--) {
    const entry = idle[i];
    // A connection used since the last check proved itself then.
    if (entry.lastUsedAt > unusedSince) continue;
    idle.splice(i, 1);
    const limit = core.expiry(entry, start);
    if (limit !== undefined) {
      core.retire(entry, limit);
      continue;
    }
    checkOut(
      core,
      entry,
      "Health check failed",
      (signal) => entry.driverConnection.ping(signal),
      (end) => {
        counters.healthChecksPassed++;
        counters.healthCheckDuration += end - start;
        core.recycle(entry, end);
      },
      (error) => {
        if (!core.closing) {
          counters.healthChecksFailed++;
          counters.healthCheckDuration += clock.now() - start;
          core.background.report(error, "healthCheck");
        }
        core.retire(entry);
      },
    );
  }
}

/** Retires idle connections past their limits. */
export function sweep(core: PoolCore): void {
  const now = core.clock.now();
  for (let i = core.idle.length - 1; i >= 0; i--) {
    const limit = core.expiry(core.idle[i], now);
    if (limit === undefined) continue;
    const [entry] = core.idle.splice(i, 1);
    core.retire(entry, limit);
  }
}

/**
 * Holds a connection out of use for one round trip of the pool's own,
 * bounded by `checkTimeout` and by close(); then hands it to `onPass` (with
 * the time it ended) or `onFail`, unless close() has taken it meanwhile.
 * `onEnd` runs in every case.
 */
function checkOut(
  core: PoolCore,
  entry: PoolEntry,
  action: string,
  operation: (signal: AbortSignal) => Promise<void>,
  onPass: (end: number) => void,
  onFail: (error: unknown) => void,
  onEnd?: () => void,
): void {
  entry.state = "checking";
  core.checking++;
  const timeout = core.options.checkTimeout;
  const roundTrip = core.background.bounded(
    timeout,
    () => new PoolError("CHECK_TIMEOUT", `${action}: no answer within ${timeout} ms`),
    operation,
  );
  const settle = (outcome: () => void) => {
    onEnd?.();
    // close() took it past its grace period, and counted it then.
    if (entry.state === "closed") return;
    core.checking--;
    outcome();
    core.checkDrained();
  };
  core.background.track(roundTrip.then(
    () =>
      settle(() => {
        const end = core.clock.now();
        entry.provenAt = end;
        onPass(end);
      }),
    (error) => settle(() => onFail(error)),
  ));
}
