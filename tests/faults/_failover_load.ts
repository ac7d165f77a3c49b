/**
 * The write load of the failover tests: callers inserting numbered rows,
 * half with `pool.execute`, half in `pool.transaction`, each write bounded
 * by a statement timeout, recording which were acknowledged, which failed
 * and how, and when writes succeeded.
 *
 * @module
 */

import type { ConnectionPool } from "../../mod.ts";

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

/** Starts `callers` callers writing through `pool`, numbering rows from `first`. */
export function startWriteLoad(pool: ConnectionPool, callers: number, first: number): WriteLoad {
  let next = first;
  let running = true;
  const load: Omit<WriteLoad, "stop"> = { acknowledged: new Set(), failed: [], successes: [] };
  const insert = `insert into ${TABLE} (n) values ($1)`;
  const caller = async (index: number) => {
    while (running) {
      const n = next++;
      const started = Date.now();
      try {
        if (index % 2 === 0) {
          await pool.execute(insert, [n], { timeout: WRITE_TIMEOUT });
        } else {
          await pool.transaction(async (tx) => {
            await tx.execute(insert, [n], { timeout: WRITE_TIMEOUT });
          });
        }
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
