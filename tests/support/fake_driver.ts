/**
 * The smallest driver the pool can run on, with knobs to make it fail. Calls
 * settle synchronously (already settled promises) unless a knob says to wait,
 * so tests are deterministic.
 *
 * @module
 */

import type { Driver, DriverConnection, QueryResult } from "../../src/driver.ts";

/** An error carrying a PostgreSQL SQLSTATE in `code`, like a driver raises. */
export function pgError(
  code: string,
  message = `SQLSTATE ${code}`,
): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** Opens {@linkcode FakeConnection}s and counts them. */
export class FakeDriver implements Driver {
  /** Every connection opened, oldest first; `id` is its index + 1. */
  readonly connections: FakeConnection[] = [];
  /** Calls to `connect`, including those that failed or were aborted. */
  connects = 0;
  /** Connections that have closed, for whatever reason. */
  closes = 0;

  /** Errors for the next connects to reject with, one each, in order. */
  readonly connectErrors: unknown[] = [];
  /**
   * While set, each connect waits for this promise before it opens (or, if
   * it rejects, rejects with its error). A promise that never settles makes
   * connects hang until their signal aborts. Read when connect is called.
   */
  connectGate: Promise<unknown> | undefined;
  /** Queries whose text is a key here reject with the value, on every connection. */
  readonly queryErrors: Map<string, unknown> = new Map();
  /** Queries whose text is a key here answer a copy of the value (default: no rows). */
  readonly queryResults: Map<string, QueryResult> = new Map();
  /** Connect errors the pool must not retry (a bad password, say); others it may. */
  readonly permanentErrors: Set<unknown> = new Set();
  /** Called with each new connection before `connect` resolves: set its knobs here. */
  onOpen: ((connection: FakeConnection) => void) | undefined;
  /**
   * Set to let the pool pipeline: which statements may share a connection.
   * Unset (the default), the pool never pipelines on this driver.
   */
  pipelinable: ((text: string) => boolean) | undefined;

  /** Connections opened and not closed. */
  get live(): number {
    return this.connections.length - this.closes;
  }

  /** The connection opened last. */
  get last(): FakeConnection | undefined {
    return this.connections.at(-1);
  }

  /** Makes the next `count` connects reject with `error`. */
  failConnects(
    count: number,
    error: unknown = new Error("Connection refused"),
  ): void {
    for (let i = 0; i < count; i++) this.connectErrors.push(error);
  }

  /** What `classifyError` says of an error; unlisted errors concern one connection. */
  readonly errorKinds: Map<unknown, "serverGone" | "readOnly"> = new Map();

  classifyError(error: unknown): "serverGone" | "readOnly" | undefined {
    return this.errorKinds.get(error);
  }

  canRetryConnect(error: unknown): boolean {
    return !this.permanentErrors.has(error);
  }

  /** Serialization failures and deadlocks, as `pgError("40001")` and `pgError("40P01")` make them. */
  canRetryTransaction(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return code === "40001" || code === "40P01";
  }

  /** The errors of calls made on a connection already closed: nothing was sent. */
  neverSent(error: unknown): boolean {
    return error instanceof Error && unsent.has(error);
  }

  connect(signal: AbortSignal): Promise<FakeConnection> {
    this.connects++;
    if (signal.aborted) return Promise.reject(signal.reason);
    const failed = this.connectErrors.length > 0;
    const error = this.connectErrors.shift();
    const open = () => {
      if (failed) throw error;
      const connection = new FakeConnection(this, this.connections.length + 1);
      this.connections.push(connection);
      this.onOpen?.(connection);
      return connection;
    };
    const gate = this.connectGate;
    if (gate === undefined) return new Promise((resolve) => resolve(open()));
    const opened = gate.then(() => {
      signal.throwIfAborted();
      return open();
    });
    return raceAbort(opened, signal);
  }
}

/**
 * One fake session. Tracks a PostgreSQL-like transaction state from the
 * statements it runs: `BEGIN` opens a transaction, a failing statement inside
 * it fails the transaction, and `COMMIT` / `ROLLBACK` end it (a `COMMIT` of a
 * failed transaction answers `ROLLBACK`, as PostgreSQL does). `select 1`
 * answers one row, `{ "?column?": 1 }`; other statements answer no rows unless
 * scripted in {@linkcode FakeDriver.queryResults}.
 */
export class FakeConnection implements DriverConnection {
  /** 1 for the driver's first connection, 2 for its second, and so on. */
  readonly id: number;
  /** Every query text run, in order, including failed ones. */
  readonly queries: string[] = [];
  /** The parameters of each query, in the same order as `queries`. */
  readonly params: (readonly unknown[])[] = [];
  /** Calls to `ping`. */
  pings = 0;
  /** Calls to `reset`. */
  resets = 0;
  /** Calls to `close`. */
  closeCalls = 0;
  /** Calls to `discard`. */
  discards = 0;
  /** The error the connection died with, if it did. */
  closeError: unknown;
  /** `"idle"`, `"open"` or `"failed"`: the server's transaction status. */
  transaction: "idle" | "open" | "failed" = "idle";

  /** When set, pings reject with it. */
  pingError: unknown;
  /** When set, resets reject with it (and the connection stays dirty). */
  resetError: unknown;
  /** When set, discards reject with it. */
  discardError: unknown;
  /** When true, queries never settle until their signal aborts or the connection closes. */
  hangQueries = false;
  /** When true, pings never settle until their signal aborts or the connection closes. */
  hangPings = false;
  /** When set, the next query kills the connection with it while running. */
  dieOnQuery: unknown;
  /**
   * When set, the next query finds the connection killed with it before
   * sending anything, and rejects as unsent (see `FakeDriver.neverSent`).
   */
  dieBeforeQuery: unknown;
  /** Statements sent with `pipeline`, in order. */
  readonly pipelined: string[] = [];
  /** Most `pipeline` statements in flight at once so far. */
  mostInFlight = 0;
  /**
   * When true, `pipeline` statements stay in flight until {@linkcode
   * FakeConnection.answer} ends them, oldest first, as a server answers.
   */
  holdPipeline = false;
  /** Pipelined statements in flight, oldest first. */
  readonly #inFlight: (() => void)[] = [];

  readonly #driver: FakeDriver;
  #closed = false;
  #running = 0;
  #listener: ((error?: unknown) => void) | undefined;
  /** Rejects the hanging calls when the connection closes. */
  readonly #closing = new AbortController();

  constructor(driver: FakeDriver, id: number) {
    this.#driver = driver;
    this.id = id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True inside a transaction or while a query runs; set true to open a transaction. */
  get dirty(): boolean {
    return this.transaction !== "idle" || this.#running > 0;
  }

  set dirty(value: boolean) {
    this.transaction = value ? "open" : "idle";
  }

  query(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    this.queries.push(text);
    this.params.push(params);
    if (this.dieBeforeQuery !== undefined) {
      this.die(this.dieBeforeQuery);
      this.dieBeforeQuery = undefined;
    }
    if (this.#closed) return Promise.reject(closedError("query"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.dieOnQuery !== undefined) {
      const error = this.dieOnQuery;
      this.dieOnQuery = undefined;
      this.die(error);
      return Promise.reject(error);
    }
    if (this.hangQueries) {
      this.#running++;
      return raceAbort(
        new Promise<never>(() => {}),
        signal,
        this.#closing.signal,
      )
        .finally(() => this.#running--)
        .catch((error) => {
          // PostgreSQL fails the open transaction a cancelled statement was in.
          if (this.transaction === "open") this.transaction = "failed";
          throw error;
        });
    }
    return new Promise((resolve) => resolve(this.#run(text)));
  }

  /** Statements sent with `pipeline` and not answered yet. */
  get inFlight(): number {
    return this.#inFlight.length;
  }

  pipeline(
    text: string,
    params: readonly unknown[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    this.pipelined.push(text);
    if (!this.holdPipeline) return this.query(text, params, signal);
    if (this.#closed) return Promise.reject(closedError("pipeline"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const answered = new Promise<void>((resolve) => this.#inFlight.push(resolve));
    this.mostInFlight = Math.max(this.mostInFlight, this.#inFlight.length);
    this.#running++;
    const ran = answered.then(() => this.#run(text)).finally(() => this.#running--);
    ran.catch(() => {});
    // An aborted caller hears at once; its statement still holds its place in line.
    return raceAbort(ran, signal, this.#closing.signal);
  }

  /** Answers the `count` oldest pipelined statements in flight. */
  answer(count = 1): void {
    for (let i = 0; i < count && this.#inFlight.length > 0; i++) this.#inFlight.shift()!();
  }

  ping(signal?: AbortSignal): Promise<void> {
    this.pings++;
    if (this.#closed) return Promise.reject(closedError("ping"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.pingError !== undefined) return Promise.reject(this.pingError);
    if (this.hangPings) {
      return raceAbort(
        new Promise<never>(() => {}),
        signal,
        this.#closing.signal,
      );
    }
    return Promise.resolve();
  }

  reset(signal?: AbortSignal): Promise<void> {
    this.resets++;
    if (this.#closed) return Promise.reject(closedError("reset"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.resetError !== undefined) return Promise.reject(this.resetError);
    this.transaction = "idle";
    return Promise.resolve();
  }

  /** Ends any transaction and forgets the session's state, as a fresh session. */
  discard(signal?: AbortSignal): Promise<void> {
    this.discards++;
    if (this.#closed) return Promise.reject(closedError("discard"));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.discardError !== undefined) return Promise.reject(this.discardError);
    this.transaction = "idle";
    return Promise.resolve();
  }

  onClose(listener: (error?: unknown) => void): void {
    if (this.#closed) queueMicrotask(() => listener(this.closeError));
    else this.#listener = listener;
  }

  close(): Promise<void> {
    this.closeCalls++;
    this.#end(undefined);
    return Promise.resolve();
  }

  /** Simulates the server or the network closing the connection with `error`. */
  die(error: unknown = new Error("Connection terminated unexpectedly")): void {
    this.#end(error);
  }

  #end(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeError = error;
    this.#driver.closes++;
    this.#closing.abort(error ?? new Error("Connection closed while the call ran"));
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(error);
  }

  /** Runs one statement at once: returns its result or throws its error. */
  #run(text: string): QueryResult {
    const { queryErrors, queryResults } = this.#driver;
    const verb = /^\s*([a-z]*)/i.exec(text)![1].toUpperCase();
    const toSavepoint = verb === "ROLLBACK" &&
      /^\s*rollback\s+(\w+\s+)?to\b/i.test(text);
    const ends = verb === "COMMIT" || (verb === "ROLLBACK" && !toSavepoint);
    if (queryErrors.has(text)) {
      // A failed COMMIT (say, a deferred constraint) still ends the transaction.
      if (ends) this.transaction = "idle";
      else if (this.transaction === "open") this.transaction = "failed";
      throw queryErrors.get(text);
    }
    if (this.transaction === "failed" && !ends && !toSavepoint) {
      throw pgError(
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block",
      );
    }
    if (verb === "BEGIN") {
      if (this.transaction === "idle") this.transaction = "open";
      return result("BEGIN");
    }
    if (toSavepoint) {
      this.transaction = "open";
      return result("ROLLBACK");
    }
    if (ends) {
      const failed = verb === "ROLLBACK" || this.transaction === "failed";
      this.transaction = "idle";
      return result(failed ? "ROLLBACK" : "COMMIT");
    }
    const scripted = queryResults.get(text);
    if (scripted) {
      return { ...scripted, rows: scripted.rows.map((row) => ({ ...row })) };
    }
    if (/^\s*select\s+1\s*;?\s*$/i.test(text)) {
      return { rows: [{ "?column?": 1 }], rowCount: 1, command: "SELECT" };
    }
    return result(verb);
  }
}

function result(command: string): QueryResult {
  return { rows: [], rowCount: 0, command };
}

/** Errors of calls refused because their connection was already closed. */
const unsent = new WeakSet<Error>();

function closedError(action: string): Error {
  const error = new Error(`Cannot ${action}: the connection is closed`);
  unsent.add(error);
  return error;
}

/** Settles like `promise`, or rejects with the reason of the first signal to abort. */
function raceAbort<T>(
  promise: Promise<T>,
  ...signals: (AbortSignal | undefined)[]
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = () => {
      for (const signal of signals) {
        signal?.removeEventListener("abort", onAbort);
      }
    };
    const onAbort = function (this: AbortSignal) {
      stop();
      reject(this.reason);
    };
    for (const signal of signals) {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener("abort", onAbort);
    }
    promise.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error) => {
        stop();
        reject(error);
      },
    );
  });
}
