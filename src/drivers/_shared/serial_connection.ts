import type { DriverConnection, QueryResult } from "../../driver.ts";
import { type Action, Call, markUnsent } from "./call.ts";
import { connectionError } from "./sqlstate.ts";

/** The parameters of a statement that has none; clients only read them. */
export const NO_PARAMS: never[] = Object.freeze([]) as never[];

const noop = () => {};
/** For a microtask: cheaper than `queueMicrotask` in Deno. */
const RESOLVED = Promise.resolve();
/**
 * What `DISCARD ALL` does, but `DEALLOCATE ALL`: the prepared statements
 * the client has cached for this connection must stay. Those a borrower
 * made with SQL `PREPARE` (`from_sql`) go.
 */
const DISCARD_SESSION = "close all; set session authorization default; reset all; unlisten *; " +
  "select pg_advisory_unlock_all(); discard plans; discard temp; discard sequences; " +
  "do $$ declare n text; begin for n in select name from pg_prepared_statements where from_sql " +
  "loop execute format('deallocate %I', n); end loop; end $$";

/**
 * A connection over one socket of a client, whose calls go on the wire in
 * order: one at a time, except that `pipeline` calls go out behind each
 * other without waiting (the client gives each its own Sync). Once the
 * socket has closed every call rejects without sending anything. A driver
 * supplies how a statement is sent, read and cancelled, and how the socket
 * is ended; it reports the socket's close with `socketClosed`.
 *
 * A cancel request stops whatever the session runs when it arrives, so one
 * is sent only for a call alone on the wire, and nothing more is sent until
 * the cancelled call has finished (its request has landed).
 */
export abstract class SerialConnection<Statement, Cancel> implements DriverConnection {
  /** Set as soon as `close()` is called or the socket has closed. */
  #closed = false;
  /** Set by the first `close()`: what every `close()` returns. */
  #closing: Promise<void> | undefined;
  /** What the close listener is told; set once the socket has closed. */
  #closeReport: { error: Error | undefined } | undefined;
  #listener: ((error?: unknown) => void) | undefined;
  #markGone: () => void = noop;
  /** Resolves when the client reports the socket closed. */
  protected readonly gone: Promise<void> = new Promise((resolve) => this.#markGone = resolve);
  /** Calls started and not yet finished, running or queued. */
  #pending = 0;
  /** Calls waiting to go on the wire, oldest first. */
  #head: Call<Statement, Cancel> | undefined;
  #tail: Call<Statement, Cancel> | undefined;
  /**
   * Calls sent and not finished, oldest first: the server answers them in
   * this order. A call stays here until its cancel request, if any, has landed.
   */
  readonly #wire: Call<Statement, Cancel>[] = [];
  /** Calls on the wire that must run alone (not `pipeline`), or whose cancel was sent. */
  #alone = 0;
  /** Set while a microtask is due to start the next call. */
  #scheduled = false;
  /** Starts queued calls until one is on the wire; bound once, as a microtask. */
  readonly #pump = () => this.#startNext();
  /** The error that killed the connection, if one did. */
  #failure: unknown;
  /** Whether a transaction is open or failed, as far as the command tags tell. */
  protected transaction = false;
  /**
   * Set for a session opened for writes (`target_session_attrs` `read-write`
   * or `primary`): a 25006 (read-only) error then means the server was
   * demoted, and the connection ends so the pool's next connect finds the
   * new primary.
   */
  forWrites = false;
  /** Set behind a transaction pooler: the server session is not this connection's own. */
  readonly #sharesSessions: boolean;
  /** How long closing waits for the socket to close, in milliseconds. */
  readonly #closeTimeout: number;

  constructor(sharesSessions: boolean, closeTimeout: number) {
    this.#sharesSessions = sharesSessions;
    this.#closeTimeout = closeTimeout;
  }

  get dirty(): boolean {
    return this.#pending > 0 || this.transaction;
  }

  get closed(): boolean {
    return this.#closed;
  }

  query(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.#run("query", text, params, signal) as Promise<QueryResult>;
  }

  pipeline(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.#run("pipeline", text, params, signal) as Promise<QueryResult>;
  }

  ping(signal?: AbortSignal): Promise<void> {
    // An empty query: one round trip, nothing parsed, accepted even in a
    // failed transaction.
    return this.#run("ping", "", NO_PARAMS, signal) as Promise<void>;
  }

  reset(signal?: AbortSignal): Promise<void> {
    if (!this.#closed && !signal?.aborted) this.cancelRunning();
    return this.#run("reset", "rollback", NO_PARAMS, signal) as Promise<void>;
  }

  async discard(signal?: AbortSignal): Promise<void> {
    if (this.#sharesSessions) {
      // The pool refuses resetSession with this driver; this is for a caller without it.
      throw new TypeError(
        'Cannot discard the session: behind a pooler (pooler "transaction") it would reach another backend',
      );
    }
    // Its statements refuse to run inside a transaction block.
    await this.reset(signal);
    await this.#run("discard", DISCARD_SESSION, NO_PARAMS, signal);
  }

  onClose(listener: (error?: unknown) => void): void {
    this.#listener = listener;
    if (this.#closeReport) this.#notify();
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = this.shutDown();
    }
    return this.#closing;
  }

  /**
   * Puts a call's statement on the wire and returns it; or, when nothing can
   * be sent, settles the call with `finish` and returns `undefined`. Never
   * called for a reset with no transaction open.
   */
  protected abstract send(call: Call<Statement, Cancel>): Statement | undefined;

  /**
   * Settles a call whose statement has ended, with its result or error, by
   * calling `finish` now or once its cancel request can no longer reach
   * the next statement.
   */
  protected abstract conclude(call: Call<Statement, Cancel>, ok: boolean, value: unknown): void;

  /** Asks the server to cancel a call's statement, if it is on the wire. */
  protected abstract cancel(call: Call<Statement, Cancel>): Promise<void> | void;

  /** Ends the socket without waiting for it to close. */
  protected abstract endSocket(): void;

  /**
   * The rest of the first `close()`, once the connection counts as closed:
   * resolves when the socket is gone, or has had its time; never rejects.
   */
  protected abstract shutDown(): Promise<void>;

  /**
   * Runs `task` once the client has rejected the statement of a socket that
   * has closed: its own error is more precise than the one `task` gives.
   */
  protected abstract afterClientRejected(task: () => void): void;

  /**
   * What `open()` returns: settles once `attempt`, the connection's first
   * round trip, has. Its value while the socket is still open; else the
   * connection is closed first, then the error is the client's, or why the
   * socket closed. An abort of `signal` rejects at once with its reason and
   * calls `abandon` to end the attempt; what `attempt` gives later is dropped.
   */
  protected connected<T>(
    attempt: Promise<T>,
    signal: AbortSignal,
    abandon: () => void,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        abandon();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      attempt.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          if (this.#closed) {
            const error = this.closedError("connect");
            this.close().then(() => reject(error));
          } else resolve(value);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          this.close().then(() => reject(error));
        },
      );
    });
  }

  /**
   * Resolves once `settles` has settled, or once the close timeout has
   * passed: a server that never answers must not hold a close forever.
   */
  protected patiently(settles: PromiseLike<unknown>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const patience = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#closeTimeout);
    });
    return Promise.race([Promise.resolve(settles).then(noop, noop), patience])
      .then(() => clearTimeout(timer));
  }

  /** The calls handed to the client and not finished, oldest first. */
  protected get onWire(): readonly Call<Statement, Cancel>[] {
    return this.#wire;
  }

  /** Asks the server to cancel the statement on the wire, if it is alone there. */
  protected cancelRunning(): Promise<void> | void {
    return this.#wire.length === 1 ? this.#cancelAlone(this.#wire[0]) : undefined;
  }

  /** Sends the cancel request of a call alone on the wire; holds further sends until it lands. */
  #cancelAlone(call: Call<Statement, Cancel>): Promise<void> | void {
    if (!call.alone && !call.ended) {
      call.alone = true;
      this.#alone++;
    }
    return this.cancel(call);
  }

  /** The caller gave up: cancel the statement now if that can hit no other, else once it can. */
  #abandon(call: Call<Statement, Cancel>): void {
    if (call.query === undefined) return; // Not sent: it is dropped when its turn comes.
    if (this.#wire.length === 1) this.#cancelAlone(call);
    else call.cancelWanted = true;
  }

  /**
   * Runs one call once every earlier one has finished. The client would
   * queue concurrent queries itself and, if the socket closed with one
   * queued, reconnect to run it: a new session behind the pool's back.
   */
  #run(
    action: Action,
    text: string,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#unsentError(action));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#pending++;
    return new Promise((resolve, reject) => {
      const call = new Call<Statement, Cancel>(action, text, params, signal, resolve, reject);
      if (signal !== undefined) {
        call.onAbort = () => {
          this.#settle(call, false, signal.reason);
          this.#abandon(call);
        };
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      if (action === "pipeline" && this.#head === undefined && this.#mayStart(call)) {
        // Sent at once: a connection carrying pipelined statements is shared
        // and in use, so nothing closes it in the same step.
        return this.#start(call);
      }
      if (this.#tail === undefined) this.#head = call;
      else this.#tail.next = call;
      this.#tail = call;
      // A microtask later, as a `close()` in the same step must find it unsent.
      if (!this.#scheduled && this.#mayStart(call)) {
        this.#scheduled = true;
        RESOLVED.then(this.#pump);
      }
    });
  }

  /** Whether `call`, first in line, may go on the wire now. */
  #mayStart(call: Call<Statement, Cancel>): boolean {
    return this.#wire.length === 0 || (call.action === "pipeline" && this.#alone === 0);
  }

  /** Starts queued calls, in order, while the next one may go on the wire. */
  #startNext(): void {
    this.#scheduled = false;
    let call: Call<Statement, Cancel> | undefined;
    while ((call = this.#head) !== undefined && this.#mayStart(call)) {
      this.#head = call.next;
      if (this.#head === undefined) this.#tail = undefined;
      call.next = undefined;
      this.#start(call);
    }
  }

  #start(call: Call<Statement, Cancel>): void {
    // Aborted while queued: nothing was sent.
    if (call.settled) return this.finish(call, false, undefined);
    if (this.#closed) return this.finish(call, false, this.#unsentError(call.action));
    // A reset with no transaction open: nothing to send.
    if (call.action === "reset" && !this.transaction) return this.finish(call, true, undefined);
    const query = this.send(call);
    // Ended already: the client refused the statement during send (node-postgres
    // calls back at once for a parameter it cannot serialize).
    if (query === undefined || call.ended) return;
    call.query = query;
    this.#wire.push(call);
    if (call.action !== "pipeline") {
      call.alone = true;
      this.#alone++;
    }
    this.watch(call, query);
  }

  /**
   * Ends `call` once `statement`, just sent, has ended: here through its
   * promise. A driver whose client reports the end to a callback instead
   * overrides this to do nothing, and calls `statementEnded` from there.
   */
  protected watch(call: Call<Statement, Cancel>, statement: Statement): void {
    (statement as PromiseLike<unknown>).then(
      (result) => this.statementEnded(call, true, result),
      (error) => this.statementEnded(call, false, error),
    );
  }

  /** The statement of a call on the wire has ended, or the socket is gone. */
  protected statementEnded(call: Call<Statement, Cancel>, ok: boolean, value: unknown): void {
    if (call.ended) return;
    call.ended = true;
    this.conclude(call, ok, value);
  }

  /** Ends a call: settles its caller, unless it gave up, and starts what may follow. */
  protected finish(call: Call<Statement, Cancel>, ok: boolean, value: unknown): void {
    if (call.onAbort !== undefined) call.signal!.removeEventListener("abort", call.onAbort);
    if (!ok && this.forWrites && (value as { code?: unknown } | null)?.code === "25006") {
      this.fail(value);
    }
    // Before settling, so the caller sees `dirty` false once it resumes.
    this.#pending--;
    this.#settle(call, ok, value);
    const wire = this.#wire;
    const at = wire.indexOf(call);
    if (at === -1) return; // Never sent.
    wire.splice(at, 1);
    if (call.alone) this.#alone--;
    const next = wire[0];
    if (wire.length === 1 && next.cancelWanted && !next.ended) this.#cancelAlone(next);
    this.#startNext();
  }

  #settle(call: Call<Statement, Cancel>, ok: boolean, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (ok) call.resolve(value);
    else call.reject(value);
  }

  /**
   * A statement failed in a way that leaves the socket unusable. Stop using
   * it now: the client reports the close only later, and a statement sent in
   * between would never settle (postgres.js) or open a new socket (Bun).
   */
  protected fail(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failure = error;
    this.endSocket();
  }

  /**
   * The client's `onclose`: the socket is gone, whoever closed it. `cause`
   * is what the client said of why, reported when no failure is known.
   * `endAgain` says whether to end the socket if the driver had not closed
   * it, as a client that reconnects on its next statement needs.
   */
  protected socketClosed(cause: unknown, endAgain: boolean): void {
    if (this.#closeReport) return;
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#closeReport = {
      error: this.#closing ? undefined : connectionError(
        "Connection lost: the server or the network closed it",
        this.#failure ?? cause,
      ),
    };
    this.#markGone();
    if (endAgain && !wasClosed) this.endSocket();
    for (const call of this.#wire) {
      this.afterClientRejected(() =>
        this.statementEnded(call, false, this.closedError(call.action))
      );
    }
    if (this.#listener) this.#notify();
  }

  #notify(): void {
    const listener = this.#listener;
    const error = this.#closeReport?.error;
    this.#listener = undefined;
    queueMicrotask(() => {
      try {
        listener?.(error);
      } catch {
        // The listener is the pool's; its bug must not escape into the
        // client's socket handler or the microtask queue.
      }
    });
  }

  #unsentError(action: string): Error {
    return markUnsent(this.closedError(action));
  }

  protected closedError(action: string): Error {
    return connectionError(
      `Cannot ${action}: the connection is closed`,
      this.#closeReport?.error,
    );
  }
}
