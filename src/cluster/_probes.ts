/**
 * The SQL a cluster runs to learn each member's role and replication
 * position, kept in one place with the PostgreSQL specifics, and the
 * parsing of its answer.
 *
 * @module
 */

import type { ConnectionPool } from "../pool.ts";

/**
 * Asked of every member once per health round; its one answer tells both
 * the role (a cluster of `members` learns it from `in_recovery`) and the
 * health. `read_only` is `transaction_read_only` read inside the probe's
 * own transaction, so it reflects `default_transaction_read_only` and
 * recovery alike. `lsn`, when not in recovery, is the flushed WAL position,
 * not the insert position: only flushed WAL can reach a replica.
 * `replay_lsn`, when in recovery, is how far it has replayed (received is
 * not enough: a paused replay receives but shows nothing new).
 */
export const PROBE = "select pg_is_in_recovery() as in_recovery, " +
  "current_setting('transaction_read_only') as read_only, " +
  "case when pg_is_in_recovery() then null else pg_current_wal_flush_lsn()::text end as lsn, " +
  "case when pg_is_in_recovery() then pg_last_wal_replay_lsn()::text end as replay_lsn";

/** What a member said. */
export interface MemberState {
  inRecovery: boolean;
  /** Whether it reports `transaction_read_only = on` (or is in recovery). */
  readOnly: boolean;
  /** Its flushed WAL position; undefined while it is in recovery. */
  lsn: bigint | undefined;
  /** The WAL position it has replayed; undefined out of recovery, or if it never replayed any. */
  replayLsn: bigint | undefined;
}

/** Runs {@linkcode PROBE} on `pool`. */
export async function probe(pool: ConnectionPool, signal: AbortSignal): Promise<MemberState> {
  const { rows } = await pool.execute(PROBE, [], { signal });
  if (rows.length !== 1) throw new TypeError(`Cannot read probe: ${rows.length} rows, not 1`);
  const row = rows[0];
  const inRecovery = bool(row.in_recovery, "in_recovery");
  if (row.read_only !== "on" && row.read_only !== "off") {
    throw new TypeError(`Cannot read probe: read_only must be "on" or "off", got ${row.read_only}`);
  }
  return {
    inRecovery,
    readOnly: inRecovery || row.read_only === "on",
    lsn: parseLsn(row.lsn),
    replayLsn: parseLsn(row.replay_lsn),
  };
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

function bool(value: unknown, column: string): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot read probe: ${column} must be a boolean, got ${String(value)}`);
  }
  return value;
}
