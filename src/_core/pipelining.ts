import type { QueryResult } from "../driver.ts";
import { QueryTimeoutError } from "../errors.ts";
import type { PoolCore } from "./core.ts";
import { withTimeout } from "./deadline.ts";
import type { PoolEntry } from "./entry.ts";
import { markLost } from "./lost_statements.ts";
import { Waiter } from "./wait_queue.ts";

/**
 * Runs one statement that may share a connection with others like it
 * (`core.pipelines` is set, and the driver deemed the statement
 * pipelinable): on an idle connection; else, when no more may open and
 * nobody waits ahead, pipelined on the shared connection with the fewest in
 * flight; else after waiting in line like any caller. Arguments are checked.
 */
export function executePipelined(
  core: PoolCore,
  text: string,
  params: readonly unknown[],
  signal: AbortSignal | undefined,
  timeout: number,
): Promise<QueryResult> {
  const now = core.clock.now();
  const run = (entry: PoolEntry, at: number) =>
    runShared(core, entry, at, at - now, text, params, signal, timeout);
  const idle = core.takeIdle(now);
  if (idle !== undefined) return run(idle, now);
  if (core.waiters.size <= core.coming() && core.atMost()) {
    const busy = core.pipelines!.pick(core.ledger.all, now, core.generation);
    if (busy !== undefined) return run(busy, now);
  }
  if (core.full()) return core.refuse();
  return new Promise((resolve, reject) => {
    const serve = (entry: PoolEntry, at: number) => {
      resolve(run(entry, at));
      // The connection it got may take the statements waiting behind it.
      dispatch(core, at);
    };
    core.waiters.add(new Waiter(serve, reject, now, core.options.acquireTimeout, true), signal);
    core.openForWaiters();
  });
}

/**
 * Sends one statement on `entry`, lending it as a shared connection first
 * unless it already is one; the connection goes back once its last
 * statement has ended.
 */
function runShared(
  core: PoolCore,
  entry: PoolEntry,
  now: number,
  waited: number,
  text: string,
  params: readonly unknown[],
  signal: AbortSignal | undefined,
  timeout: number,
): Promise<QueryResult> {
  const pipelines = core.pipelines!;
  core.recordAcquire(waited);
  core.counters.acquireCount++;
  if (!entry.shared) {
    core.ledger.move(entry, "inUse", now);
    entry.lentAt = now;
    pipelines.open(entry);
  }
  const slow = pipelines.isSlow(text);
  if (pipelines.started(entry, now, slow)) core.counters.pipelinedStatements++;
  const connection = entry.driverConnection;
  const result = timeout === 0 ? connection.pipeline!(text, params, signal) : withTimeout(
    core.clock,
    timeout,
    signal,
    () => new QueryTimeoutError(timeout),
    (bounded) => connection.pipeline!(text, params, bounded),
  );
  return result.then(
    (value) => {
      ended(core, entry, text, slow, true);
      return value;
    },
    (error) => {
      if (connection.closed) markLost(error);
      core.noteError(entry.generation, error);
      // A timeout or an abort ends the caller's wait, not the statement's run.
      const answered = !connection.closed && !(error instanceof QueryTimeoutError) &&
        !signal?.aborted;
      ended(core, entry, text, slow, answered);
      throw error;
    },
  );
}

function ended(
  core: PoolCore,
  entry: PoolEntry,
  text: string,
  slow: boolean,
  answered: boolean,
): void {
  const now = core.clock.now();
  if (core.pipelines!.ended(entry, now, text, slow, answered)) core.release(entry, now);
  else dispatch(core, now);
}

/**
 * Hands waiting single statements, in order, to shared connections with
 * room, while no more connections may open; stops at the first waiter that
 * needs a connection of its own, so shared connections drain for it.
 */
function dispatch(core: PoolCore, now: number): void {
  const pipelines = core.pipelines!;
  if (!core.atMost()) return;
  // Waiters beyond those the connections on their way will serve.
  for (
    let waiter = core.waiters.first;
    waiter?.shared && core.waiters.size > core.coming();
    waiter = core.waiters.first
  ) {
    const entry = pipelines.pick(core.ledger.all, now, core.generation);
    if (entry === undefined) return;
    core.waiters.next(now)!.serve(entry, now);
  }
}
