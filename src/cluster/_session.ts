import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import type { Transaction, TransactionOptions } from "../transaction.ts";
import type { ClusterRouter, WriterState } from "./_router.ts";
import type { ClusterSession } from "./session.ts";

/** A session: the router, and the time of the session's last write. */
export class Session implements ClusterSession, WriterState {
  lastWriteAt: number | undefined;
  readonly #router: ClusterRouter;

  constructor(router: ClusterRouter) {
    this.#router = router;
  }

  get readsFromPrimary(): boolean {
    return this.#router.pinned(this);
  }

  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return this.#router.execute<Row>(text, params, options, this);
  }

  executeRead<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return this.#router.executeRead<Row>(text, params, options, this);
  }

  beginTx(options?: TransactionOptions): Promise<Transaction> {
    return this.#router.beginTx(options, this);
  }

  transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options?: TransactionOptions,
  ): Promise<T> {
    return this.#router.transaction(fn, options, this);
  }
}
