/**
 * The SQL a cluster runs to learn each member's role and replication
 * position, kept together so the PostgreSQL specifics live in one place, and
 * the parsing of their answers.
 *
 * @module
 */

import type { ConnectionPool } from "../pool.ts";

/**
 * Asked of the primary: is it still a writable primary, and how far has it
 * flushed its WAL. `transaction_read_only` is read inside the probe's own
 * transaction, so it reflects `default_transaction_read_only` and recovery
 * alike. The flush position, not the insert position: only flushed WAL can
 * reach a replica.
 */
export const PRIMARY_PROBE = "select pg_is_in_recovery() as in_recovery, " +
  "current_setting('transaction_read_only') as read_only, " +
  "case when pg_is_in_recovery() then null else pg_current_wal_flush_lsn()::text end as lsn";

/**
 * Asked of each replica: is it still following a primary, and how far has it
 * replayed (received is not enough: a paused replay receives but shows
 * nothing new).
 */
export const REPLICA_PROBE = "select pg_is_in_recovery() as in_recovery, " +
  "pg_last_wal_replay_lsn()::text as replay_lsn";

/** What the primary said. */
export interface PrimaryState {
  /** Whether it reports `transaction_read_only = on` (or is in recovery). */
  readOnly: boolean;
  /** Its flushed WAL position; undefined while it is in recovery. */
  lsn: bigint | undefined;
}

/** What a replica said. */
export interface ReplicaState {
  inRecovery: boolean;
  /** The WAL position it has replayed; undefined if it never replayed any. */
  replayLsn: bigint | undefined;
}

/** Runs {@linkcode PRIMARY_PROBE} on `pool`. */
export async function probePrimary(
  pool: ConnectionPool,
  signal: AbortSignal,
): Promise<PrimaryState> {
  const row = await oneRow(pool, PRIMARY_PROBE, signal);
  const inRecovery = bool(row.in_recovery, "in_recovery");
  if (row.read_only !== "on" && row.read_only !== "off") {
    throw new TypeError(`Cannot read probe: read_only must be "on" or "off", got ${row.read_only}`);
  }
  return { readOnly: inRecovery || row.read_only === "on", lsn: parseLsn(row.lsn) };
}

/** Runs {@linkcode REPLICA_PROBE} on `pool`. */
export async function probeReplica(
  pool: ConnectionPool,
  signal: AbortSignal,
): Promise<ReplicaState> {
  const row = await oneRow(pool, REPLICA_PROBE, signal);
  return { inRecovery: bool(row.in_recovery, "in_recovery"), replayLsn: parseLsn(row.replay_lsn) };
}

/**
 * Reads a `pg_lsn` in its text form, two hexadecimal halves `"16/B374D848"`,
 * as one 64-bit number; null is undefined.
 *
 * @throws {TypeError} Any other text.
 */
export function parseLsn(text: unknown): bigint | undefined {
  if (text === null || text === undefined) return undefined;
  const match = typeof text === "string" ? /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text) : null;
  if (match === null) throw new TypeError(`Cannot read probe: not an LSN: ${String(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) + BigInt(`0x${match[2]}`);
}

async function oneRow(
  pool: ConnectionPool,
  text: string,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const { rows } = await pool.execute(text, [], { signal });
  if (rows.length !== 1) throw new TypeError(`Cannot read probe: ${rows.length} rows, not 1`);
  return rows[0];
}

function bool(value: unknown, column: string): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot read probe: ${column} must be a boolean, got ${String(value)}`);
  }
  return value;
}
