/**
 * A transaction that tells the cluster when it ends, so the member it runs on
 * stops counting it as load.
 *
 * @module
 */

import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import type { Transaction } from "../transaction.ts";
import type { SqlResult } from "../sql.ts";
import { runTemplate } from "../_core/sql_template.ts";

/** Wraps a member pool's transaction; `done` runs once, when it is no longer open. */
export class TrackedTransaction implements Transaction {
  readonly #inner: Transaction;
  #done: (() => void) | undefined;

  constructor(inner: Transaction, done: () => void) {
    this.#inner = inner;
    this.#done = done;
  }

  get status(): Transaction["status"] {
    return this.#inner.status;
  }

  execute<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<Row>> {
    return this.#inner.execute<Row>(text, params, options);
  }

  sql<Row = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<SqlResult<Row>> {
    return runTemplate((text, params) => this.execute<Row>(text, params), strings, values);
  }

  commit(): Promise<void> {
    return this.#inner.commit().finally(() => this.#ended());
  }

  rollback(): Promise<void> {
    return this.#inner.rollback().finally(() => this.#ended());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.status === "open") await this.rollback();
  }

  #ended(): void {
    if (this.#inner.status === "open") return;
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}
