import type { DriverConnection, QueryResult } from "../driver.ts";
import { breaksConnection, normalizeError } from "./_bun_errors.ts";
import type { ResolvedOptions } from "./_bun_options.ts";
import type { BunSqlClient, BunSqlConstructor, BunSqlQuery, BunSqlResult } from "./_bun_sql.ts";
import { connectionError } from "./_sqlstate.ts";
import { transactionOpenAfter } from "./_transaction_state.ts";

type Action = "query" | "ping" | "reset" | "discard";

const noop = () => {};
/** For a microtask: cheaper than `queueMicrotask`. */
const RESOLVED = Promise.resolve();
const NO_PARAMS: readonly never[] = Object.freeze([]);
/** What `DISCARD ALL` does, but `DEALLOCATE ALL`: Bun's cached prepared statements must stay. */
const DISCARD_SESSION = "close all; set session authorization default; reset all; unlisten *; " +
  "select pg_advisory_unlock_all(); discard plans; discard temp; discard sequences";
/** A semicolon with more text after it: maybe several statements. */
const SEVERAL_STATEMENTS = /;\s*\S/;
const QUERY_CANCELED = "57014";

/**
 * Turns the typed arrays Bun returns for `int4[]` and `float4[]` columns
 * without NULLs (`Int32Array`, `Float32Array`) into plain arrays, as every
 * other array column is, and as postgres.js returns them: a typed array is
 * no `Array`, and `JSON.stringify` writes it as an object. `bytea` stays a
 * `Buffer`.
 */
function plainArrays(rows: Record<string, unknown>[]): void {
  for (const row of rows) {
    for (const key in row) {
      const value = row[key];
      if (
        ArrayBuffer.isView(value) && !(value instanceof Uint8Array) && !(value instanceof DataView)
      ) {
        row[key] = Array.from(value as unknown as ArrayLike<unknown>);
      }
    }
  }
}

/**
 * One call of `query`, `ping`, `reset` or `discard`: queued until the calls
 * before it have finished, then on the wire, then done.
 */
class Call {
  /** Whether the caller's promise has settled: done, or aborted. */
  settled = false;
  /** Whether Bun (or the socket's close) has ended the statement. */
  ended = false;
  /** The statement on the wire, once sent. */
  query: BunSqlQuery | undefined = undefined;
  /** Set once the cancel of `query` has been asked for. */
  cancelling = false;
  /** Set once Bun has been told to send the cancel request. */
  cancelSent = false;
  onAbort: (() => void) | undefined = undefined;
  next: Call | undefined = undefined;

  constructor(
    readonly action: Action,
    readonly text: string,
    readonly params: readonly unknown[],
    readonly signal: AbortSignal | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}
}

/**
 * One pooled connection: a `Bun.SQL` instance with `max: 1` and no timers of
 * its own, whose calls run one at a time and which never reconnects.
 */
export class BunConnection implements DriverConnection {
  readonly #sql: BunSqlClient;
  /** How long `close()` waits for the socket to close, in milliseconds. */
  readonly #closeTimeout: number;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** What the close listener is told; set once the socket has closed. */
  #closeReport: { error: Error | undefined } | undefined;
  #listener: ((error?: unknown) => void) | undefined;
  /** Resolves when Bun reports the socket closed. */
  readonly #gone: Promise<void>;
  #markGone: () => void = noop;
  /** Calls started and not yet finished, running or queued. */
  #pending = 0;
  #head: Call | undefined;
  #tail: Call | undefined;
  /** The call whose statement is on the wire, if any. */
  #running: Call | undefined;
  #busy = false;
  #scheduled = false;
  readonly #pump = () => this.#startNext();
  /** The error that killed the connection, if one did. */
  #failure: unknown;
  #transaction = false;
  /** Set behind a transaction pooler: the server session is not this connection's own. */
  readonly #sharesSessions: boolean;

  private constructor(SQL: BunSqlConstructor, options: ResolvedOptions) {
    this.#sharesSessions = options.pooler !== undefined;
    this.#gone = new Promise((resolve) => this.#markGone = resolve);
    this.#closeTimeout = options.connectTimeout * 1000;
    this.#sql = new SQL({
      ...options.bun,
      onclose: (error: unknown) => this.#socketClosed(error),
    });
  }

  /** Opens a connection, logged in and ready for queries. */
  static open(
    SQL: BunSqlConstructor,
    options: ResolvedOptions,
    signal: AbortSignal,
  ): Promise<BunConnection> {
    const connection = new BunConnection(SQL, options);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        connection.close();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const connecting = new Promise((resolve) => resolve(connection.#sql.connect()));
      connecting.then(
        () => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          if (connection.#closed) {
            const error = connection.#closedError("connect");
            connection.close().then(() => reject(error));
          } else resolve(connection);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          connection.close().then(() => reject(normalizeError(error)));
        },
      );
    });
  }

  get dirty(): boolean {
    return this.#pending > 0 || this.#transaction;
  }

  get closed(): boolean {
    return this.#closed;
  }

  query(text: string, params: readonly unknown[], signal?: AbortSignal): Promise<QueryResult> {
    return this.#run("query", text, params, signal) as Promise<QueryResult>;
  }

  ping(signal?: AbortSignal): Promise<void> {
    // An empty query: one round trip, accepted even in a failed transaction.
    return this.#run("ping", "", NO_PARAMS, signal) as Promise<void>;
  }

  reset(signal?: AbortSignal): Promise<void> {
    if (!this.#closed && !signal?.aborted) this.#cancelRunning();
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
      // The backend would otherwise run the statement to its end before
      // noticing the socket is gone. Bun sends the cancel request on a
      // socket of its own, so the close waits a macrotask for it to leave.
      const running = this.#running;
      if (running !== undefined) this.#cancel(running);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const patience = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#closeTimeout);
      });
      const ended = new Promise<void>((resolve) => {
        setTimeout(() => this.#sql.close({ timeout: 0 }).then(resolve, resolve), 0);
      });
      this.#closing = Promise.race([Promise.all([this.#gone, ended]), patience])
        .then(() => clearTimeout(timer));
    }
    return this.#closing;
  }

  /**
   * Runs one call once every earlier one has finished. Bun would queue
   * concurrent queries itself and, if the socket closed with one queued,
   * reconnect to run it: a new session behind the pool's back.
   */
  #run(
    action: Action,
    text: string,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closedError(action));
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#pending++;
    return new Promise((resolve, reject) => {
      const call = new Call(action, text, params, signal, resolve, reject);
      if (signal !== undefined) {
        call.onAbort = () => {
          this.#settle(call, false, signal.reason);
          this.#cancel(call);
        };
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      if (this.#tail === undefined) this.#head = call;
      else this.#tail.next = call;
      this.#tail = call;
      // A microtask later, as a `close()` in the same step must find it unsent.
      if (!this.#busy && !this.#scheduled) {
        this.#scheduled = true;
        RESOLVED.then(this.#pump);
      }
    });
  }

  #startNext(): void {
    this.#scheduled = false;
    let call: Call | undefined;
    while (!this.#busy && (call = this.#head) !== undefined) {
      this.#head = call.next;
      if (this.#head === undefined) this.#tail = undefined;
      call.next = undefined;
      this.#start(call);
    }
  }

  #start(call: Call): void {
    if (call.settled) return this.#finish(call, false, undefined);
    if (this.#closed) return this.#finish(call, false, this.#closedError(call.action));
    // A reset with no transaction open: nothing to send.
    if (call.action === "reset" && !this.#transaction) return this.#finish(call, true, undefined);
    let query: BunSqlQuery;
    try {
      // A copy, as the caller may change its array once the call returns.
      query = call.params.length === 0
        ? this.#sql.unsafe(call.text)
        : this.#sql.unsafe(call.text, [...call.params]);
    } catch (error) {
      return this.#finish(call, false, normalizeError(error));
    }
    call.query = query;
    this.#running = call;
    this.#busy = true;
    query.then(
      (result) => this.#ended(call, true, result),
      (error) => this.#ended(call, false, error),
    );
  }

  /** The statement of the running call has ended, or the socket is gone. */
  #ended(call: Call, ok: boolean, value: unknown): void {
    if (call.ended) return;
    call.ended = true;
    this.#running = undefined;
    if (ok) {
      value = this.#result(call, value as BunSqlResult);
    } else {
      value = normalizeError(value);
      if (breaksConnection(value)) this.#fail(value);
      else if (call.params.length === 0 && SEVERAL_STATEMENTS.test(call.text)) {
        // Statements before the failing one ran, and may have opened a
        // transaction: counted as open, a ROLLBACK too many costs one round trip.
        this.#transaction = true;
      }
    }
    if (call.cancelSent && (ok || (value as { code?: unknown }).code !== QUERY_CANCELED)) {
      // The statement ended before the cancel request reached the server,
      // which Bun does not say it has: the request could still cancel the
      // next statement, so this session cannot be trusted with one.
      this.#fail(connectionError("The connection was closed: a cancel request may still be due"));
    }
    this.#finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: Call, result: BunSqlResult): QueryResult | undefined {
    if (call.action === "ping" || call.action === "discard") return undefined;
    let last = result;
    if (typeof result.command !== "string" && Array.isArray(result[0])) {
      // Several statements, one result each. Without the text of each, a
      // COMMIT or ROLLBACK may be `ROLLBACK TO SAVEPOINT`, so counts as open.
      for (const each of result as BunSqlResult[]) {
        this.#transaction = transactionOpenAfter(this.#transaction, "", each.command ?? undefined);
        last = each;
      }
    } else {
      this.#transaction = transactionOpenAfter(
        this.#transaction,
        call.text,
        result.command ?? undefined,
      );
    }
    if (call.action === "reset") return undefined;
    const rows = Array.from(last) as Record<string, unknown>[];
    // Only the extended protocol brings binary arrays.
    if (call.params.length > 0) plainArrays(rows);
    return {
      rows,
      rowCount: last.count ?? 0,
      command: last.command ?? "",
    };
  }

  #finish(call: Call, ok: boolean, value: unknown): void {
    if (call.onAbort !== undefined) call.signal!.removeEventListener("abort", call.onAbort);
    // Before settling, so the caller sees `dirty` false once it resumes.
    this.#pending--;
    this.#settle(call, ok, value);
    if (this.#busy) {
      this.#busy = false;
      this.#startNext();
    }
  }

  #settle(call: Call, ok: boolean, value: unknown): void {
    if (call.settled) return;
    call.settled = true;
    if (ok) call.resolve(value);
    else call.reject(value);
  }

  /**
   * Asks the server to cancel a call's statement, if it is on the wire. A
   * macrotask later: Bun writes a statement to the socket after `then` is
   * called, and one cancelled before that is only rejected by Bun, which
   * says nothing of whether it ran.
   */
  #cancel(call: Call): void {
    if (call.query === undefined || call.ended || call.cancelling) return;
    call.cancelling = true;
    setTimeout(() => {
      if (call.ended) return;
      call.cancelSent = true;
      try {
        call.query!.cancel();
      } catch {
        // Nothing sent; the statement runs to its end.
      }
    }, 0);
  }

  #cancelRunning(): void {
    if (this.#running !== undefined) this.#cancel(this.#running);
  }

  /**
   * A statement failed in a way that leaves the socket unusable. Stop using
   * it now: Bun would reconnect for the next statement.
   */
  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failure = error;
    this.#sql.close({ timeout: 0 }).then(noop, noop);
  }

  /** Bun's `onclose`: the socket is gone, whoever closed it. */
  #socketClosed(error: unknown): void {
    if (this.#closeReport) return;
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#closeReport = {
      error: this.#closing ? undefined : connectionError(
        "Connection lost: the server or the network closed it",
        this.#failure ?? normalizeError(error ?? undefined),
      ),
    };
    this.#markGone();
    // Bun would open a new socket for the next statement; this one is done.
    if (!wasClosed) this.#sql.close({ timeout: 0 }).then(noop, noop);
    // After Bun's own rejection of the statement, which is more precise.
    const running = this.#running;
    if (running !== undefined) {
      setTimeout(() => this.#ended(running, false, this.#closedError(running.action)), 0);
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
        // The listener is the pool's; its bug must not escape into Bun's
        // socket handler or the microtask queue.
      }
    });
  }

  #closedError(action: string): Error {
    return connectionError(`Cannot ${action}: the connection is closed`, this.#closeReport?.error);
  }
}
