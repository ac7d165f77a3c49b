/**
 * One call of a `SerialConnection`, and which calls never reached
 * the server.
 *
 * @module
 */

/**
 * What a call does; `query` and `pipeline` resolve with a result. A
 * `pipeline` call may share the wire with other `pipeline` calls; every
 * other call runs alone.
 */
export type Action = "query" | "pipeline" | "ping" | "reset" | "discard";

/** Errors of calls rejected because the connection had closed before they were sent. */
const unsent = new WeakSet<Error>();

/**
 * Whether `error` is that of a call a {@linkcode SerialConnection} rejected
 * without sending anything, its connection being closed: the server never
 * saw the statement.
 */
export function neverSent(error: unknown): boolean {
  return error instanceof Error && unsent.has(error);
}

/** Marks `error` as that of a call rejected before anything was sent. */
export function markUnsent(error: Error): Error {
  unsent.add(error);
  return error;
}

/**
 * One call of `query`, `pipeline`, `ping`, `reset` or `discard`: queued
 * until it may go on the wire, then on the wire, then done. A node of its
 * connection's queue.
 */
export class Call<Statement, Cancel> {
  /** Whether the caller's promise has settled: done, or aborted. */
  settled = false;
  /** Whether the client (or the socket's close) has ended the statement. */
  ended = false;
  /** The statement on the wire, once sent. */
  query: Statement | undefined = undefined;
  /** How far the driver has got in cancelling `query`, once it has begun. */
  cancel: Cancel | undefined = undefined;
  /** Its caller gave up while others were on the wire with it: cancel it once it runs alone. */
  cancelWanted = false;
  /** Counted in its connection's calls that keep others off the wire. */
  alone = false;
  onAbort: (() => void) | undefined = undefined;
  next: Call<Statement, Cancel> | undefined = undefined;

  constructor(
    readonly action: Action,
    readonly text: string,
    readonly params: readonly unknown[],
    readonly signal: AbortSignal | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}
}
