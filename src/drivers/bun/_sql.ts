/**
 * The part of Bun's built-in PostgreSQL client (`Bun.SQL`) the driver uses,
 * declared here because the project has no Bun types, and reached through
 * `globalThis` so the module loads, and type-checks, on any runtime.
 */

/** What a statement resolves with: its rows, tagged with the command. */
export interface BunSqlResult extends Array<unknown> {
  /** Rows returned or affected; `null` for an empty query. */
  count?: number | null;
  /** The command tag's verb; `null` for an empty query, absent for several statements. */
  command?: string | null;
}

/** A statement, sent once `then` is called. */
export interface BunSqlQuery extends PromiseLike<BunSqlResult> {
  /** Asks the server to cancel the statement; does not say when the request is delivered. */
  cancel(): unknown;
}

/** One `Bun.SQL` instance; with `max: 1`, one socket. */
export interface BunSqlClient {
  /**
   * Runs a tagged template: one statement over the extended protocol, with
   * `values` bound to the gaps between `strings`.
   */
  (strings: TemplateStringsArray, ...values: unknown[]): BunSqlQuery;
  /**
   * Runs `text`: with parameters, as one statement over the extended
   * protocol; without, over the simple protocol (then `text` may hold
   * several statements, and the result is one result per statement).
   */
  unsafe(text: string, params?: unknown[]): BunSqlQuery;
  /** Opens the socket and logs in. */
  connect(): Promise<unknown>;
  /** With `timeout: 0`, closes the socket at once, rejecting what runs. */
  close(options?: { timeout?: number }): Promise<void>;
}

/** `Bun.SQL`'s constructor. */
export type BunSqlConstructor = new (options: Record<string, unknown>) => BunSqlClient;

/** `Bun.SQL`, or `undefined` on a runtime that is not Bun. */
export function bunSqlConstructor(): BunSqlConstructor | undefined {
  const bun = (globalThis as { Bun?: { SQL?: unknown } }).Bun;
  return typeof bun?.SQL === "function" ? bun.SQL as BunSqlConstructor : undefined;
}
