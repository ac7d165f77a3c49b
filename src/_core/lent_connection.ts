import type { Clock } from "../clock.ts";
import type { ExecuteOptions, PoolConnection } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import { ConnectionReleasedError, QueryTimeoutError } from "../errors.ts";
import { withTimeout } from "./deadline.ts";
import type { PoolEntry } from "./entry.ts";
import { markLost } from "./lost_statements.ts";
import { validateDuration } from "./options.ts";
import type { SqlResult } from "../sql.ts";
import { runTemplate } from "./sql_template.ts";
import { changesSession, tagChangesSession } from "./session_state.ts";

/** What a lent connection needs from the pool that lent it. */
export interface Lender {
  release(entry: PoolEntry): void;
  /** The pool's clock, for statement timeouts. */
  readonly clock: Clock;
  /** Set when the driver classifies errors: told of each failed statement. */
  readonly noteError: ((entry: PoolEntry, error: unknown) => void) | undefined;
  /** Set with `resetSession: "auto"`: note statements that change the session. */
  readonly watchSession: boolean;
  /** Whether handles are watched for leaks, so one must stay reachable while it runs a statement. */
  readonly leakWatch: boolean;
}

/**
 * Checks the arguments of an `execute` call and returns its statement
 * timeout in milliseconds, 0 for none.
 *
 * @throws {TypeError} `text` not a string, or `params` not an array.
 * @throws {RangeError} An invalid `timeout`.
 */
export function checkStatement(
  text: unknown,
  params: unknown,
  options: ExecuteOptions | undefined,
): number {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot execute: text must be a string, got ${typeof text}`);
  }
  if (!Array.isArray(params)) {
    throw new TypeError(`Cannot execute: params must be an array, got ${typeof params}`);
  }
  return validateDuration("Cannot execute: timeout", options?.timeout, 0);
}

/** One loan of a pooled connection: a fresh handle per `getConnection()`. */
export class LentConnection implements PoolConnection {
  readonly #lender: Lender;
  #entry: PoolEntry | undefined;

  constructor(lender: Lender, entry: PoolEntry) {
    this.#lender = lender;
    this.#entry = entry;
  }

  get released(): boolean {
    return this.#entry === undefined;
  }

  execute<Row = Record<string, unknown>>(
    text: string,
    params: readonly unknown[] = [],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    const entry = this.#entry;
    if (entry === undefined) return Promise.reject(new ConnectionReleasedError("execute"));
    const connection = entry.driverConnection;
    const signal = options?.signal;
    let timeout = 0;
    try {
      timeout = checkStatement(text, params, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // Before sending: a session advisory lock outlives a statement that then fails.
    const watch = this.#lender.watchSession && !entry.sessionChanged;
    if (watch && changesSession(text)) entry.sessionChanged = true;
    const result = timeout === 0 ? connection.query(text, params, signal) : withTimeout(
      this.#lender.clock,
      timeout,
      signal,
      () => new QueryTimeoutError(timeout),
      (bounded) => connection.query(text, params, bounded),
    );
    if (this.#lender.leakWatch) this.#holdWhile(entry, result);
    const noteError = this.#lender.noteError;
    return result.then(
      (value) => {
        if (watch && tagChangesSession(text, value.command)) entry.sessionChanged = true;
        return value;
      },
      (error) => {
        if (connection.closed) markLost(error);
        noteError?.(entry, error);
        throw error;
      },
    ) as Promise<QueryResult<Row>>;
  }

  /**
   * Keeps this handle reachable from the pool until `statement` settles:
   * `(await pool.getConnection()).execute(...)` drops the handle at once,
   * and the reclaimer would otherwise reset the session under the running
   * statement.
   */
  #holdWhile(entry: PoolEntry, statement: Promise<unknown>): void {
    entry.runningFor = this;
    entry.running++;
    const settled = () => {
      if (--entry.running === 0) entry.runningFor = undefined;
    };
    statement.then(settled, settled);
  }

  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>> {
    return runTemplate((text, params) => this.execute<Row>(text, params), strings, values);
  }

  release(): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#lender.release(entry);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}
