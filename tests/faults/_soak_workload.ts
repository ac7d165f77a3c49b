/**
 * The soak's workload: the kinds of operation its callers run, how often
 * each, and what each does and checks of its result.
 *
 * @module
 */

import type { ConnectionPool, PoolConnection, Transaction } from "../../mod.ts";
import { between } from "./_soak_random.ts";
import type { Writes } from "./_soak_writes.ts";

/** Rows of soak_counters, which transactions update. */
export const COUNTERS = 64;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a callback throws on purpose, to roll its transaction back. */
class SoakThrow extends Error {}
/** The reason of the soak's own aborts. */
export class SoakAbort extends Error {}

/** A mistake in an operation's result: not a pool error, always a test failure. */
class WrongResult extends Error {}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new WrongResult(what);
}

export type Op =
  | "execute"
  | "executeTimeout"
  | "executeAbort"
  | "loan"
  | "transactionCommit"
  | "transactionThrow"
  | "transactionFail"
  | "beginTx"
  | "dirtyRelease"
  | "releaseRunning"
  | "sleepTimeout";

export const OP_WEIGHTS: Record<Op, number> = {
  execute: 28,
  executeTimeout: 10,
  executeAbort: 3,
  loan: 15,
  transactionCommit: 9,
  transactionThrow: 5,
  transactionFail: 5,
  beginTx: 9,
  dirtyRelease: 7,
  releaseRunning: 3,
  sleepTimeout: 3,
};

/** A signal that aborts with a {@linkcode SoakAbort} after `ms`, and its timer's stop. */
function abortAfter(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new SoakAbort(`aborted after ${ms} ms`)), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** One write: a counter row incremented, and a log row naming it, in one transaction. */
async function write(tx: Transaction | PoolConnection, id: number, row: number): Promise<number> {
  const { rows } = await tx.execute<{ n: number }>(
    "update soak_counters set n = n + 1 where id = $1 returning n",
    [row],
  );
  await tx.execute("insert into soak_log (id, counter) values ($1, $2)", [id, row]);
  return rows[0]?.n;
}

/**
 * One operation of kind `op` on `pool`; resolves or throws what the pool
 * threw. Its writes, if any, are noted in `writes` with what became of them.
 */
export async function run(
  pool: ConnectionPool,
  op: Op,
  rand: () => number,
  writes: Writes,
): Promise<void> {
  const n = between(rand, 1, 1_000_000);
  const row = between(rand, 1, COUNTERS);
  switch (op) {
    case "execute": {
      const { rows } = await pool.execute<{ n: number }>("select $1::int as n", [n]);
      expect(rows.length === 1 && rows[0].n === n, `execute returned ${JSON.stringify(rows)}`);
      return;
    }
    case "executeTimeout": {
      const { rows } = await pool.execute<{ n: number }>("select $1::int + 1 as n", [n], {
        timeout: between(rand, 200, 1_000),
      });
      expect(rows[0]?.n === n + 1, `execute with timeout returned ${JSON.stringify(rows)}`);
      return;
    }
    case "executeAbort": {
      const abort = abortAfter(between(rand, 0, 30));
      try {
        await pool.execute("select pg_sleep($1::float8)", [between(rand, 0, 40) / 1_000], {
          signal: abort.signal,
        });
      } finally {
        abort.clear();
      }
      return;
    }
    case "loan": {
      const withSignal = rand() < 0.3;
      const abort = withSignal ? abortAfter(between(rand, 0, 60)) : undefined;
      const statements = between(rand, 2, 4);
      try {
        const connection = await pool.getConnection({ signal: abort?.signal });
        try {
          await checkClean(connection, abort?.signal);
          for (let i = 0; i < statements; i++) {
            const { rows } = await connection.execute<{ n: number }>(
              "select $1::int * 2 as n",
              [n + i],
              { signal: abort?.signal },
            );
            expect(rows[0]?.n === (n + i) * 2, `loan returned ${JSON.stringify(rows)}`);
          }
        } finally {
          connection.release();
        }
      } finally {
        abort?.clear();
      }
      return;
    }
    case "transactionCommit": {
      const id = writes.start();
      // Set once the callback returned: the pool sends COMMIT, whose answer may never come.
      let committing = false;
      try {
        const value = await pool.transaction(async (tx) => {
          const value = await write(tx, id, row);
          committing = true;
          return value;
        });
        writes.settle(id, "committed");
        expect(typeof value === "number", `transaction returned ${value}`);
      } catch (error) {
        writes.settle(id, committing ? "unknown" : "absent");
        throw error;
      }
      return;
    }
    case "transactionThrow": {
      const thrown = new SoakThrow("rolled back on purpose");
      const id = writes.start();
      try {
        await pool.transaction(async (tx) => {
          await write(tx, id, row);
          throw thrown;
        });
      } catch (error) {
        writes.settle(id, "absent");
        if (error === thrown) return;
        throw error;
      }
      writes.settle(id, "unknown");
      throw new WrongResult("a transaction whose callback threw resolved");
    }
    case "transactionFail": {
      const failing = rand() < 0.5
        ? "select 1 / (n - n) from soak_counters where id = $1"
        : "insert into soak_counters (id, n) values ($1, 0)";
      const id = writes.start();
      try {
        await pool.transaction(async (tx) => {
          await write(tx, id, row);
          await tx.execute(failing, [row]);
        });
      } catch (error) {
        writes.settle(id, "absent");
        throw error;
      }
      writes.settle(id, "unknown");
      throw new WrongResult(`a transaction with a failing statement resolved: ${failing}`);
    }
    case "beginTx": {
      const tx = await pool.beginTx(rand() < 0.2 ? { isolationLevel: "repeatable read" } : {});
      const commit = rand() < 0.6;
      const id = writes.start();
      let committing = false;
      try {
        await write(tx, id, row);
        committing = commit;
        if (commit) await tx.commit();
        else await tx.rollback();
        writes.settle(id, commit ? "committed" : "absent");
      } catch (error) {
        writes.settle(id, committing ? "unknown" : "absent");
        throw error;
      } finally {
        // A failed statement leaves the transaction open; rolling it back releases it.
        if (tx.status === "open") await tx.rollback().catch(() => {});
      }
      return;
    }
    case "dirtyRelease": {
      const connection = await pool.getConnection();
      // Never committed: the pool must roll the transaction back on release.
      const id = writes.start();
      writes.settle(id, "absent");
      try {
        await checkClean(connection);
        await connection.execute("begin");
        await write(connection, id, row);
        // Sometimes leave the transaction failed rather than open.
        if (rand() < 0.3) {
          await connection.execute("select 1 / 0").then(
            () => {
              throw new WrongResult("select 1 / 0 succeeded");
            },
            (error) => {
              if ((error as { code?: string }).code !== "22012") throw error;
            },
          );
        }
      } finally {
        connection.release();
      }
      return;
    }
    case "releaseRunning": {
      const connection = await pool.getConnection();
      let running: Promise<unknown>;
      try {
        running = connection.execute("select pg_sleep($1::float8)", [
          between(rand, 10, 50) / 1_000,
        ]);
        // Handled below; not yet awaited.
        running.catch(() => {});
        await sleep(between(rand, 0, 5));
      } finally {
        connection.release();
      }
      await running;
      return;
    }
    case "sleepTimeout": {
      const timeout = between(rand, 10, 60);
      await pool.execute("select pg_sleep(0.5)", [], { timeout });
      throw new WrongResult(`pg_sleep(0.5) finished within a ${timeout} ms timeout`);
    }
  }
}

/**
 * Throws unless `connection` is outside any transaction: a leaked open
 * transaction that wrote has an xid, a leaked failed one fails with 25P02.
 */
async function checkClean(connection: PoolConnection, signal?: AbortSignal): Promise<void> {
  const { rows } = await connection.execute<{ clean: boolean }>(
    "select pg_current_xact_id_if_assigned() is null as clean",
    [],
    { signal },
  );
  expect(rows[0]?.clean === true, "a connection was handed out inside a transaction");
}
