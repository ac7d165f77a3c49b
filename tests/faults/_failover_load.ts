/**
 * The load of the failover tests: callers inserting numbered rows, each
 * write bounded by a statement timeout, recording which were acknowledged,
 * which failed and how, and when writes succeeded; and readers noting when
 * a standby answered.
 *
 * @module
 */

import type { ConnectionPool } from "../../mod.ts";
import type { ClusterPool } from "../../src/cluster/mod.ts";

/** Milliseconds a write's statement may run. */
export const WRITE_TIMEOUT = 3_000;
/** The table the load writes to. */
export const TABLE = "failover_rows";

/** A write that failed: its error and how long it took. */
export interface FailedWrite {
  error: unknown;
  ms: number;
}

/** A running load. */
export interface WriteLoad {
  /** The numbers of the rows the pool reported committed. */
  acknowledged: Set<number>;
  failed: FailedWrite[];
  /** When each write succeeded (`Date.now()`), in order. */
  successes: number[];
  /** Stops the callers and waits for their writes in flight to end. */
  stop(): Promise<void>;
}

const INSERT = `insert into ${TABLE} (n) values ($1)`;

/** Writes row `n` through `pool`: with `execute` for even callers, in a transaction for odd ones. */
export function poolWrite(pool: ConnectionPool): (n: number, caller: number) => Promise<unknown> {
  return (n, caller) =>
    caller % 2 === 0
      ? pool.execute(INSERT, [n], { timeout: WRITE_TIMEOUT })
      : pool.transaction((tx) => tx.execute(INSERT, [n], { timeout: WRITE_TIMEOUT }));
}

/** Writes row `n` as a write of `cluster`. */
export function clusterWrite(cluster: ClusterPool): (n: number) => Promise<unknown> {
  return (n) => cluster.execute(INSERT, [n], { timeout: WRITE_TIMEOUT });
}

/** Starts `callers` callers running `write`, numbering rows from `first`. */
export function startWriteLoad(
  write: (n: number, caller: number) => Promise<unknown>,
  callers: number,
  first: number,
): WriteLoad {
  let next = first;
  let running = true;
  const load: Omit<WriteLoad, "stop"> = { acknowledged: new Set(), failed: [], successes: [] };
  const caller = async (index: number) => {
    while (running) {
      const n = next++;
      const started = Date.now();
      try {
        await write(n, index);
        load.acknowledged.add(n);
        load.successes.push(Date.now());
      } catch (error) {
        load.failed.push({ error, ms: Date.now() - started });
        // A failing server: give it room rather than spin.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  const done = Promise.all(Array.from({ length: callers }, (_, i) => caller(i)));
  return {
    ...load,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** The longest time between two successful writes at or after `from`, in milliseconds. */
export function longestGap(successes: readonly number[], from: number): number {
  let longest = 0;
  let previous = from;
  for (const at of successes) {
    if (at < from) continue;
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return longest;
}

/** A running read load on a cluster. */
export interface ReadLoad {
  /** When a standby answered a read (`Date.now()`), in order. */
  fromStandby: number[];
  /** Stops the readers and waits for their reads in flight. */
  stop(): Promise<void>;
}

/** Starts `readers` readers of `cluster`, each read asking whether its server is a standby. */
export function startReadLoad(cluster: ClusterPool, readers: number): ReadLoad {
  let running = true;
  const fromStandby: number[] = [];
  const reader = async () => {
    while (running) {
      try {
        const { rows } = await cluster.executeRead<{ standby: boolean }>(
          "select pg_is_in_recovery() as standby",
          [],
          { timeout: WRITE_TIMEOUT },
        );
        if (rows[0].standby) fromStandby.push(Date.now());
      } catch {
        // Reads fail over by themselves; only their outcome over time is checked.
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const done = Promise.all(Array.from({ length: readers }, reader));
  return {
    fromStandby,
    stop: async () => {
      running = false;
      await done;
    },
  };
}
