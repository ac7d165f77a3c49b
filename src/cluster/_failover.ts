/**
 * What a read does when the replica it was sent to has died since its last
 * health check: the wait for a connection is watched so that it ends soon
 * after the replica's pool finds it cannot connect, and one function decides
 * whether a failure means the replica could not serve the read at all.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { PoolConnection } from "../connection.ts";
import {
  AcquireTimeoutError,
  CircuitOpenError,
  ConnectTimeoutError,
  PoolError,
  QueryTimeoutError,
} from "../errors.ts";
import type { ClusterMember } from "./_member.ts";

/** How often, in milliseconds, a replica's pool is looked at while a read waits on it for a connection. */
const WATCH_MS = 20;

/** The code of the error that ends a read's wait on a replica found unreachable. */
export const REPLICA_UNREACHABLE = "REPLICA_UNREACHABLE";

/**
 * Takes a connection from a replica's pool, as `getConnection({ signal })`,
 * but gives up with a `REPLICA_UNREACHABLE` PoolError as soon as the pool
 * has no connection open or opening while connects have failed (it is
 * backing off from a server that refuses), or the replica leaves rotation.
 * Without that, a read would sit out the pool's whole `acquireTimeout`.
 */
export function acquireFromReplica(
  member: ClusterMember,
  clock: Clock,
  signal: AbortSignal | undefined,
): Promise<PoolConnection> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const controller = new AbortController();
  const forward = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", forward, { once: true });
  const timer = clock.setInterval(() => {
    const { openConnections, connectErrors } = member.pool.getMetrics();
    if (member.healthy && (openConnections > 0 || connectErrors === 0)) return;
    controller.abort(
      new PoolError(
        REPLICA_UNREACHABLE,
        member.healthy
          ? `Cannot get a connection to replica "${member.name}": its connects fail and none is open`
          : `Cannot get a connection to replica "${member.name}": it left rotation`,
      ),
    );
  }, WATCH_MS);
  return member.pool.getConnection({ signal: controller.signal }).finally(() => {
    clock.clearInterval(timer);
    signal?.removeEventListener("abort", forward);
  });
}

/**
 * Whether a replica read failed because the replica could not serve it, so
 * that it may leave rotation and the read run elsewhere; never for the
 * caller's own abort (checked before) or timeout. Why these and no others:
 * - No connection came (`connection` false): the wait was ended by
 *   {@linkcode acquireFromReplica}, or it timed out with a failed connect as
 *   its cause, or a connect failed outright (the driver's error, or
 *   `ConnectTimeoutError`), or the pool's circuit breaker is open. The pool's other refusals (closed, `maxWaiting`
 *   reached, a timeout with no failed connect) mean load, not an outage.
 *   Nothing was sent, so running the read elsewhere is safe.
 * - The connection broke under the statement (`lost`: the pool retired it
 *   as lost when it came back). That is the pool's own verdict, so it holds
 *   for every driver; an error code would have to know each driver's.
 * - The server said it is going: SQLSTATE 57P01, 57P02, 57P03 (what the
 *   drivers' `classifyError` calls `"serverGone"`) or class 08 (connection
 *   exception), even while the socket still looks open.
 * Any other statement error is the server's answer to the statement
 * (42P01, 22012, 57014, 40001...): it would fail the same way elsewhere, and
 * says nothing about the replica.
 */
export function replicaUnreachable(error: unknown, connection: boolean, lost: boolean): boolean {
  if (error instanceof QueryTimeoutError) return false;
  if (!connection) {
    if (error instanceof AcquireTimeoutError) return error.cause !== undefined;
    if (error instanceof PoolError) {
      return error.code === REPLICA_UNREACHABLE || error instanceof ConnectTimeoutError ||
        error instanceof CircuitOpenError;
    }
    return true;
  }
  if (lost) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^(?:57P0[123]|08[0-9A-Z]{3})$/.test(code);
}
