import postgres from "postgres";
import type { QueryResult } from "../../driver.ts";
import type { Call } from "../_shared/call.ts";
import { NO_PARAMS, SerialConnection } from "../_shared/serial_connection.ts";
import { SESSION_STATE_QUERY, type SessionState } from "../_shared/target_session.ts";
import { transactionOpenAfter } from "../_shared/transaction_state.ts";
import { type ArrayType, arrayTypesFrom, FETCH_ARRAY_TYPES, installArrayTypes } from "./_arrays.ts";
import { cancelStatement } from "./_cancel.ts";
import { breaksConnection } from "./_errors.ts";
import type { Options } from "./_resolve_options.ts";

type Sql = postgres.Sql<Record<string, unknown>>;
type Statement = postgres.PendingQuery<postgres.Row[]>;
type Rows = postgres.RowList<postgres.Row[]>;
/** A call of this driver; its `cancel` is the request to cancel its statement. */
type PostgresCall = Call<Statement, Promise<void>>;

const noop = () => {};
/**
 * The rows of a result as a plain array. postgres.js 3.4.9 resets its row
 * index only when a statement completes, so after one that failed midway
 * through its rows, the next result starts with that many holes; the rows
 * themselves are right, so the holes are dropped.
 */
function rowsOf(result: Rows): Rows[number][] {
  const rows = Array.from(result);
  return rows.length > 0 && rows[0] === undefined ? rows.filter((row) => row !== undefined) : rows;
}

/** postgres.js's option for the simple protocol, missing from its types. */
const SIMPLE = { simple: true } as unknown as { prepare: boolean };

/** One pooled connection: a postgres.js instance with `max: 1`, so one socket. */
export class PostgresConnection extends SerialConnection<Statement, Promise<void>> {
  /** The postgres.js instance: `max: 1`, so one socket. */
  readonly #sql: Sql;
  /** `{ prepare, simple: false }`, as postgres.js takes it; it copies it per statement. */
  readonly #statementOptions: { prepare: boolean };

  private constructor(options: Options, sharesSessions: boolean) {
    super(sharesSessions, (options.connect_timeout ?? 30) * 1000);
    // `simple: false` is not in postgres.js's types; it makes an
    // unparameterised query one statement too, so tags track reliably.
    const prepare = options.prepare === true;
    this.#statementOptions = { prepare, simple: false } as { prepare: boolean };
    this.#sql = postgres({
      ...options,
      // It says nothing of why, and reconnects only for a statement still in
      // its queue: a pipelined one it had not sent yet, taken back here first.
      onclose: () => {
        this.#dropUnsent();
        this.socketClosed(undefined, false);
      },
    }) as unknown as Sql;
  }

  /**
   * Takes back from postgres.js the pipelined statements it still queues
   * (not yet given to its socket, so without a `state`): once the socket
   * closes it would open a new one, a session the pool never sees, to run
   * them. Each rejects with 57014, never sent.
   */
  #dropUnsent(): void {
    for (const call of this.onWire) {
      const query = call.query as (Statement & { state?: unknown }) | undefined;
      if (query !== undefined && !call.ended && query.state === undefined) query.cancel();
    }
  }

  /**
   * Opens a connection and makes its first round trip: the session state
   * check when `check` (then the array type fetch too, when `arrayTypes` is
   * not known yet), else the array type fetch, else an empty query.
   */
  static open(
    options: Options,
    sharesSessions: boolean,
    arrayTypes: readonly ArrayType[] | undefined,
    check: boolean,
    signal: AbortSignal,
  ): Promise<
    { connection: PostgresConnection; arrayTypes: readonly ArrayType[]; state?: SessionState }
  > {
    const connection = new PostgresConnection(options, sharesSessions);
    const sql = connection.#sql;
    if (arrayTypes) installArrayTypes(sql.options, arrayTypes);
    // postgres.js connects lazily: the first statement opens the socket.
    const first: Statement = sql.unsafe(
      check ? SESSION_STATE_QUERY : arrayTypes ? "" : FETCH_ARRAY_TYPES,
    );
    const ready = first.then(async (rows) => {
      const state = check ? rows[0] as unknown as SessionState : undefined;
      const types = arrayTypes ??
        arrayTypesFrom(check ? await sql.unsafe(FETCH_ARRAY_TYPES) : rows);
      if (!arrayTypes) installArrayTypes(sql.options, types);
      return { connection, arrayTypes: types, state };
    });
    // At once: waiting for the attempt to settle would keep its socket (and
    // the process) alive up to connect_timeout after the pool gave up on it.
    // postgres.js ends an open socket now; one still in TCP's handshake it
    // can only drop at connect_timeout.
    return connection.connected(ready, signal, () => connection.endSocket());
  }

  protected shutDown(): Promise<void> {
    // The backend would otherwise run the statement to its end, and only
    // read the Terminate message, and close the socket, after it.
    const cancelled = this.cancelRunning();
    this.#dropUnsent();
    this.endSocket();
    // postgres.js only half-closes the socket and cannot destroy it; a
    // server that never answers would hold close() until TCP gives up.
    return Promise.all([this.patiently(this.gone), cancelled]).then(noop);
  }

  protected send(call: PostgresCall): Statement {
    if (call.action === "query" || call.action === "pipeline") {
      // A copy, as the caller may change its array once the call returns.
      const params = call.params.length === 0 ? NO_PARAMS : [...call.params] as never[];
      return this.#sql.unsafe(call.text, params, this.#statementOptions);
    }
    // Several statements: one round trip with the simple protocol.
    if (call.action === "discard") return this.#sql.unsafe(call.text, NO_PARAMS, SIMPLE);
    return this.#sql.unsafe(call.text);
  }

  protected conclude(call: PostgresCall, ok: boolean, value: unknown): void {
    if (ok) {
      try {
        value = this.#result(call, value as Rows);
      } catch (error) {
        // Unreachable: tracking and copying rows do not throw.
        [ok, value] = [false, error];
      }
    } else if (breaksConnection(value)) this.fail(value);
    // A cancel request still in flight could hit the next statement.
    if (call.cancel !== undefined) {
      call.cancel.then(() => this.finish(call, ok, value));
    } else this.finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: PostgresCall, result: Rows): QueryResult | undefined {
    if (call.action === "ping" || call.action === "discard") return undefined;
    this.transaction = transactionOpenAfter(this.transaction, call.text, result.command);
    if (call.action === "reset") return undefined;
    return { rows: rowsOf(result), rowCount: result.count ?? 0, command: result.command ?? "" };
  }

  protected cancel(call: PostgresCall): Promise<void> | undefined {
    if (call.query === undefined || call.ended) return undefined;
    return call.cancel ??= cancelStatement(call.query);
  }

  /** Ends the socket with a Terminate message. */
  protected endSocket(): void {
    this.#sql.end({ timeout: 0 }).then(noop, noop);
  }

  /** postgres.js rejects the statement just before calling `onclose`. */
  protected afterClientRejected(task: () => void): void {
    queueMicrotask(task);
  }
}
