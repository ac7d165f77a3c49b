import type { ExecuteOptions } from "../connection.ts";
import { QueryTimeoutError } from "../errors.ts";
import type { Transaction } from "../transaction.ts";
import type { PoolCore } from "./core.ts";
import { checkTransactionFn, type OpenTransaction, runInTransaction } from "./open_transaction.ts";
import { wasLost } from "./lost_statements.ts";
import { describe } from "./options.ts";

/**
 * Retries of `pool.execute` and `pool.transaction`: which failures may be
 * retried, the jittered backoff between attempts, and their count. What is
 * and is not retried, and why: docs/behaviour.md, "Retries".
 */

/** The first backoff's ceiling, in milliseconds; it doubles per retry. */
const BACKOFF_BASE = 10;
/** The largest backoff, in milliseconds. */
const BACKOFF_MAX = 1_000;
/** How often `pool.execute` retries a statement by itself. */
export const EXECUTE_RETRIES = 3;

const ELAPSED = Symbol("backoff elapsed");

/**
 * The pause before retry number `attempt` (1 for the first), in
 * milliseconds: between half and all of `10 · 2^(attempt − 1)`, at most
 * 1,000; `random` is from 0 to 1.
 */
export function backoff(attempt: number, random: number): number {
  const ceiling = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1));
  return ceiling / 2 + (ceiling / 2) * random;
}

/**
 * Checks `retries` of `pool.transaction`: 0 unless given.
 *
 * @throws {TypeError} Not a number.
 * @throws {RangeError} Not a non-negative integer.
 */
export function checkRetries(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot run transaction: retries must be an integer, got ${describe(value)}`,
    );
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot run transaction: retries must be an integer of at least 0, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Checks `idempotent` of `pool.execute`: false unless given.
 *
 * @throws {TypeError} Not a boolean.
 */
export function checkIdempotent(options: ExecuteOptions | undefined): boolean {
  const value = options?.idempotent ?? false;
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot execute: idempotent must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/**
 * Retries a statement of `pool.execute` that failed with `error`, by
 * calling `run` again, while the failure allows (see docs/behaviour.md) and
 * at most {@linkcode EXECUTE_RETRIES} times; then rejects with the last error.
 */
export async function retryStatement<T>(
  core: PoolCore,
  run: () => Promise<T>,
  error: unknown,
  idempotent: boolean,
  signal: AbortSignal | undefined,
): Promise<T> {
  for (let attempt = 1; attempt <= EXECUTE_RETRIES; attempt++) {
    // The caller gave up, or its time ran out: another attempt is not wanted.
    if (core.closing || signal?.aborted || error instanceof QueryTimeoutError) break;
    if (!neverSent(core, error) && !(idempotent && wasLost(error))) break;
    await beforeRetry(core, attempt, signal);
    try {
      return await run();
    } catch (next) {
      error = next;
    }
  }
  throw error;
}

/**
 * Where one attempt of a transaction ran, as the retry loop needs to know:
 * `begin` fills it in as it goes.
 */
export interface Attempt {
  /** The pool the attempt was given to; none when it failed before one was chosen. */
  core?: PoolCore;
  /** Its transaction, once `BEGIN` succeeded. */
  tx?: OpenTransaction;
}

/**
 * Runs `fn` in the transaction `begin` opens, as `runInTransaction` does,
 * and runs it again on a new transaction, up to `retries` times, after a
 * failure that rolled it back for sure and may not recur: a conflict the
 * driver's `canRetryTransaction` names (40001, 40P01), or a connection that
 * died before `COMMIT` was sent. Each attempt's pool (see {@linkcode Attempt})
 * counts its retry and waits the backoff, so attempts may run on different
 * pools, as a cluster's read-only transactions do.
 *
 * @throws {TypeError} `fn` not a function, before anything begins.
 */
export async function retryTransaction<T>(
  begin: (attempt: Attempt) => Promise<Transaction>,
  fn: (tx: Transaction) => Promise<T> | T,
  retries: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  checkTransactionFn(fn);
  for (let n = 1;; n++) {
    const attempt: Attempt = {};
    try {
      return await runInTransaction(() => begin(attempt), fn);
    } catch (error) {
      const core = attempt.core;
      if (
        n > retries || core === undefined || core.closing || signal?.aborted ||
        // A BEGIN that failed leaves no transaction: nothing was committed.
        !mayRetryTransaction(core, attempt.tx, error)
      ) throw error;
      await beforeRetry(core, n, signal);
    }
  }
}

function mayRetryTransaction(
  core: PoolCore,
  tx: OpenTransaction | undefined,
  error: unknown,
): boolean {
  const unsent = neverSent(core, error);
  const conflict = core.options.driver.canRetryTransaction?.(error) === true;
  // Once COMMIT went out, only its own refusal, or its never leaving, is sure to have rolled back.
  if (tx?.commitSent) return error === tx.commitError && (conflict || unsent);
  return conflict || unsent || wasLost(error);
}

/**
 * Counts one retry, then waits its backoff on the pool's clock. Rejects
 * with `signal`'s reason when it aborts, or when the pool closes.
 */
function beforeRetry(
  core: PoolCore,
  attempt: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  core.counters.retries++;
  const ms = backoff(attempt, core.clock.random?.() ?? Math.random());
  return core.background.bounded(
    ms,
    () => ELAPSED,
    (bound) =>
      new Promise<never>((_, reject) => {
        if (signal === undefined) return;
        const onAbort = () => reject(signal.reason);
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        bound.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), {
          once: true,
        });
      }),
  ).catch((reason) => {
    if (reason !== ELAPSED) throw reason;
  });
}

function neverSent(core: PoolCore, error: unknown): boolean {
  return core.options.driver.neverSent?.(error) === true;
}
