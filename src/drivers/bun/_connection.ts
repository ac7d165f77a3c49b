import type { QueryResult } from "../../driver.ts";
import { breaksConnection, normalizeError } from "./_errors.ts";
import type { ResolvedOptions } from "./_resolve_options.ts";
import type { BunSqlClient, BunSqlConstructor, BunSqlQuery, BunSqlResult } from "./_sql.ts";
import type { Call } from "../_shared/call.ts";
import { SerialConnection } from "../_shared/serial_connection.ts";
import { connectionError } from "../_shared/sqlstate.ts";
import { SESSION_STATE_QUERY, type SessionState } from "../_shared/target_session.ts";
import { transactionOpenAfter } from "../_shared/transaction_state.ts";

/**
 * How far the cancel of a statement has got: `"due"` once asked for, `"sent"`
 * once Bun has been told to send the request.
 */
type CancelStep = "due" | "sent";
type BunCall = Call<BunSqlQuery, CancelStep>;

const noop = () => {};
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

/** How many texts keep their template; past that the memo starts afresh. */
const TEMPLATES_KEPT = 1_000;
const templates = new Map<string, TemplateStringsArray>();

/**
 * `text` as the strings of a tagged template with no values, the same
 * object each time: Bun caches what it derives from a template by the
 * strings object, and derived it anew for a fresh one at every statement.
 */
function templateOf(text: string): TemplateStringsArray {
  let template = templates.get(text);
  if (template === undefined) {
    if (templates.size >= TEMPLATES_KEPT) templates.clear();
    // Bun takes an array with an enumerable `raw` for a mistake, not a template.
    template = Object.freeze(
      Object.defineProperty([text], "raw", { value: Object.freeze([text]) }),
    ) as unknown as TemplateStringsArray;
    templates.set(text, template);
  }
  return template;
}

/** The rows of a result, as a plain array (Bun's is a subclass with more fields). */
function rowsOf(result: BunSqlResult): Record<string, unknown>[] {
  const rows = new Array<Record<string, unknown>>(result.length);
  for (let i = 0; i < rows.length; i++) rows[i] = result[i] as Record<string, unknown>;
  return rows;
}

/**
 * One pooled connection: a `Bun.SQL` instance with `max: 1` and no timers of
 * its own, whose calls run one at a time and which never reconnects.
 */
export class BunConnection extends SerialConnection<BunSqlQuery, CancelStep> {
  readonly #sql: BunSqlClient;

  private constructor(SQL: BunSqlConstructor, options: ResolvedOptions) {
    super(options.pooler !== undefined, options.connectTimeout * 1000);
    this.#sql = new SQL({
      ...options.bun,
      // Bun would open a new socket for the next statement; this one is done.
      onclose: (error: unknown) => this.socketClosed(normalizeError(error ?? undefined), true),
    });
  }

  /**
   * Opens a connection, logged in and ready for queries; when `check`, reads
   * the server's state too (one more round trip).
   */
  static open(
    SQL: BunSqlConstructor,
    options: ResolvedOptions,
    check: boolean,
    signal: AbortSignal,
  ): Promise<{ connection: BunConnection; state?: SessionState }> {
    const connection = new BunConnection(SQL, options);
    const sql = connection.#sql;
    const connecting = new Promise((resolve) => resolve(sql.connect())).then(
      async () => {
        if (!check) return { connection };
        const [state] = await sql.unsafe(SESSION_STATE_QUERY) as unknown as SessionState[];
        return { connection, state };
      },
      (error) => Promise.reject(normalizeError(error)),
    );
    // Not close(): Bun reports no close of a socket that never logged in, so
    // close() would hold a timer, and the process, up to connect_timeout.
    return connection.connected(connecting, signal, () => connection.endSocket());
  }

  protected shutDown(): Promise<void> {
    // The backend would otherwise run the statement to its end before
    // noticing the socket is gone. Bun sends the cancel request on a
    // socket of its own, so the close waits a macrotask for it to leave.
    this.cancelRunning();
    const ended = new Promise<void>((resolve) => {
      setTimeout(() => this.#sql.close({ timeout: 0 }).then(resolve, resolve), 0);
    });
    return this.patiently(Promise.all([this.gone, ended]));
  }

  protected send(call: BunCall): BunSqlQuery | undefined {
    try {
      // A copy, as the caller may change its array once the call returns.
      if (call.params.length > 0) return this.#sql.unsafe(call.text, [...call.params]);
      // Bun runs `unsafe(text)` by the simple protocol, which it never
      // pipelines; a template of the one string goes by the extended one.
      return call.action === "pipeline"
        ? this.#sql(templateOf(call.text))
        : this.#sql.unsafe(call.text);
    } catch (error) {
      this.finish(call, false, normalizeError(error));
      return undefined;
    }
  }

  protected conclude(call: BunCall, ok: boolean, value: unknown): void {
    if (ok) {
      value = this.#result(call, value as BunSqlResult);
    } else {
      value = normalizeError(value);
      if (breaksConnection(value)) this.fail(value);
      else if (call.params.length === 0 && SEVERAL_STATEMENTS.test(call.text)) {
        // Statements before the failing one ran, and may have opened a
        // transaction: counted as open, a ROLLBACK too many costs one round trip.
        this.transaction = true;
      }
    }
    if (call.cancel === "sent" && (ok || (value as { code?: unknown }).code !== QUERY_CANCELED)) {
      // The statement ended before the cancel request reached the server,
      // which Bun does not say it has: the request could still cancel the
      // next statement, so this session cannot be trusted with one.
      this.fail(connectionError("The connection was closed: a cancel request may still be due"));
    }
    this.finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: BunCall, result: BunSqlResult): QueryResult | undefined {
    if (call.action === "ping" || call.action === "discard") return undefined;
    let last = result;
    if (typeof result.command !== "string" && Array.isArray(result[0])) {
      // Several statements, one result each. Without the text of each, a
      // COMMIT or ROLLBACK may be `ROLLBACK TO SAVEPOINT`, so counts as open.
      for (const each of result as BunSqlResult[]) {
        this.transaction = transactionOpenAfter(this.transaction, "", each.command ?? undefined);
        last = each;
      }
    } else {
      this.transaction = transactionOpenAfter(
        this.transaction,
        call.text,
        result.command ?? undefined,
      );
    }
    if (call.action === "reset") return undefined;
    const rows = rowsOf(last);
    // Only the extended protocol brings binary arrays.
    if (call.params.length > 0 || call.action === "pipeline") plainArrays(rows);
    return {
      rows,
      rowCount: last.count ?? 0,
      command: last.command ?? "",
    };
  }

  /**
   * A macrotask later: Bun writes a statement to the socket after `then` is
   * called, and one cancelled before that is only rejected by Bun, which
   * says nothing of whether it ran.
   */
  protected cancel(call: BunCall): void {
    if (call.query === undefined || call.ended || call.cancel !== undefined) return;
    call.cancel = "due";
    setTimeout(() => {
      if (call.ended) return;
      call.cancel = "sent";
      try {
        call.query!.cancel();
      } catch {
        // Nothing sent; the statement runs to its end.
      }
    }, 0);
  }

  protected endSocket(): void {
    this.#sql.close({ timeout: 0 }).then(noop, noop);
  }

  /** Bun rejects the statement of a closed socket a little after `onclose`. */
  protected afterClientRejected(task: () => void): void {
    setTimeout(task, 0);
  }
}
