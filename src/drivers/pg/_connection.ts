import pg from "pg";
import type { QueryResult } from "../../driver.ts";
import type { Call } from "../_shared/call.ts";
import { SerialConnection } from "../_shared/serial_connection.ts";
import { connectionError } from "../_shared/sqlstate.ts";
import { sendCancelRequest } from "./_cancel.ts";
import { breaksConnection } from "./_errors.ts";
import type { Endpoint, ResolvedOptions } from "./_resolve_options.ts";

type Result = pg.QueryResult<Record<string, unknown>>;
/** A statement sent; its callback gets one result, or one per statement of several. */
type Statement = pg.Query;
/** A call of this driver; its `cancel` is the request to cancel its statement. */
type PgCall = Call<Statement, Promise<void>>;

/** The backend's key, which node-postgres keeps but does not declare. */
interface BackendKey {
  processID: number | null;
  secretKey: number | null;
}

const noop = () => {};
/** A semicolon with more text after it: maybe several statements. */
const SEVERAL_STATEMENTS = /;\s*\S/;

/**
 * One pooled connection: a `pg.Client`, one socket that never reconnects,
 * whose calls run one at a time.
 */
export class PgConnection extends SerialConnection<Statement, Promise<void>> {
  readonly #client: pg.Client;
  readonly #endpoint: Endpoint;
  /** Milliseconds a cancel request or a close may take. */
  readonly #patience: number;

  private constructor(options: ResolvedOptions, ssl: ResolvedOptions["ssl"]) {
    const patience = options.connectTimeout * 1000;
    super(options.pooler !== undefined, patience);
    this.#patience = patience;
    this.#endpoint = options.endpoint;
    this.#client = new pg.Client({ ...options.client, ssl } as pg.ClientConfig);
    // Once connected, node-postgres reports a broken socket, or a FATAL
    // message such as a terminated backend's, here, then ends the socket.
    // Without a listener, the emitter would throw it.
    this.#client.on("error", (error) => this.fail(error));
    this.#client.on("end", () => this.socketClosed(undefined, false));
    if (options.onnotice) this.#client.on("notice", options.onnotice as never);
  }

  /** Opens a connection, logged in and ready for queries; `ssl` as `pg.Client` takes it. */
  static open(
    options: ResolvedOptions,
    ssl: ResolvedOptions["ssl"],
    signal: AbortSignal,
  ): Promise<PgConnection> {
    let connection: PgConnection;
    try {
      connection = new PgConnection(options, ssl);
    } catch (error) {
      // pg.Client's constructor throws for options it refuses.
      return Promise.reject(error);
    }
    const connecting = connection.#client.connect().then(() => connection);
    // Ending the socket gracefully mid-handshake would write a Terminate
    // message ahead of the startup one; it is destroyed instead.
    return connection.connected(connecting, signal, () => connection.#destroy());
  }

  protected shutDown(): Promise<void> {
    // The backend would otherwise run the statement to its end before
    // noticing the socket is gone.
    const cancelled = this.cancelRunning();
    this.endSocket();
    // A server that never acknowledges the Terminate message would hold
    // the half-closed socket until TCP gives up.
    const gone = this.patiently(this.gone).then(() => this.#destroy());
    return Promise.all([gone, cancelled]).then(noop);
  }

  protected send(call: PgCall): Statement {
    // Without parameters, node-postgres uses the simple protocol, which
    // takes several statements (as the discard call needs). Never named,
    // so nothing is prepared beyond the statement itself.
    const values = call.params.length === 0 ? undefined : [...call.params];
    // A query with a callback: node-postgres's promise form costs a copy
    // of the query's options, two promises and a stack trace per statement.
    const query = new pg.Query(
      call.text,
      values,
      // Typed as one result; several statements bring one each.
      (error: Error | undefined, result: unknown) =>
        error ? this.statementEnded(call, false, error) : this.statementEnded(call, true, result),
    );
    this.#client.query(query);
    return query;
  }

  /** The query's callback ends the call. */
  protected override watch(): void {}

  protected conclude(call: PgCall, ok: boolean, value: unknown): void {
    if (ok) {
      value = this.#result(call, value as Result | Result[]);
    } else if (breaksConnection(value)) {
      this.fail(value);
    } else if (call.params.length === 0 && SEVERAL_STATEMENTS.test(call.text)) {
      // The error arrives before the server's ReadyForQuery says what the
      // statements before the failing one left; counted as a transaction
      // open, a ROLLBACK too many costs one round trip.
      this.transaction = true;
    }
    // A cancel request still in flight could hit the next statement.
    if (call.cancel !== undefined) {
      call.cancel.then(() => this.finish(call, ok, value));
    } else this.finish(call, ok, value);
  }

  /** What a call resolves with, once its statement succeeded. */
  #result(call: PgCall, result: Result | Result[]): QueryResult | undefined {
    // node-postgres settles a statement on the server's ReadyForQuery,
    // whose status byte says whether a transaction is open (or failed).
    this.transaction = this.#client.getTransactionStatus() !== "I";
    if (call.action !== "query" && call.action !== "pipeline") return undefined;
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return { rows: last.rows, rowCount: last.rowCount ?? 0, command: last.command ?? "" };
  }

  protected cancel(call: PgCall): Promise<void> | undefined {
    if (call.query === undefined || call.ended) return undefined;
    return call.cancel ??= this.#sendCancel();
  }

  #sendCancel(): Promise<void> {
    const { processID, secretKey } = this.#client as unknown as BackendKey;
    if (processID === null || secretKey === null) return Promise.resolve();
    return sendCancelRequest(this.#endpoint, processID, secretKey, this.#patience).then(
      (landed) => {
        if (landed) return;
        // The request may still arrive, and cancel the next statement.
        this.fail(connectionError("The connection was closed: a cancel request may still be due"));
      },
    );
  }

  /**
   * Ends the socket: with a Terminate message when idle; node-postgres
   * destroys it when a statement runs, or once it has failed.
   */
  protected endSocket(): void {
    this.#client.end().then(noop, noop);
  }

  #destroy(): void {
    this.#client.connection.stream.destroy();
  }

  /**
   * node-postgres rejects the statements of a closed socket on the next
   * tick, and reports the close on the one after.
   */
  protected afterClientRejected(task: () => void): void {
    setTimeout(task, 0);
  }
}
