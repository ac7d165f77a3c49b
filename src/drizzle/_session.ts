/**
 * Drizzle's session and transaction over the pool.
 *
 * Drizzle's public extension points used here: `PgSession`,
 * `PgTransaction`, `PgDialect`, `PgTransactionConfig` and
 * `PreparedQueryConfig` from `drizzle-orm/pg-core`; `PreparedQuery` from
 * `drizzle-orm/pg-proxy` (it maps rows into Drizzle's results, so nothing
 * of Drizzle's internals is needed); and `entityKind`, `Logger`, `sql` and
 * `RelationalSchemaConfig` from `drizzle-orm`.
 *
 * @module
 */

import { entityKind, type Logger, type RelationalSchemaConfig, sql } from "drizzle-orm";
import type { Cache } from "drizzle-orm/cache/core";
import type { WithCacheConfig } from "drizzle-orm/cache/core/types";
import {
  type PgDialect,
  PgSession,
  PgTransaction,
  type PgTransactionConfig,
  type PreparedQueryConfig,
} from "drizzle-orm/pg-core";
import { PreparedQuery } from "drizzle-orm/pg-proxy";
import type { Query, TablesRelationalConfig } from "drizzle-orm";
import type { TransactionOptions } from "../transaction.ts";
import type { DrizzlePool, PoolQueryResultHKT } from "./types.ts";
import { type Executor, type Fields, runOn } from "./_statements.ts";

/** What every session of one database shares. */
export interface SessionOptions {
  logger: Logger;
  cache: Cache | undefined;
}

type Schema<T extends TablesRelationalConfig> = RelationalSchemaConfig<T> | undefined;

/** Drizzle's session: statements on the pool, or on one transaction's connection. */
export class PoolSession<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgSession<PoolQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = "XPoolSession";
  readonly #executor: Executor;
  readonly #pool: DrizzlePool | undefined;
  readonly #schema: Schema<TSchema>;
  readonly #options: SessionOptions;

  /** `pool` is where transactions begin; a transaction's session has none. */
  constructor(
    executor: Executor,
    pool: DrizzlePool | undefined,
    dialect: PgDialect,
    schema: Schema<TSchema>,
    options: SessionOptions,
  ) {
    super(dialect);
    this.#executor = executor;
    this.#pool = pool;
    this.#schema = schema;
    this.#options = options;
  }

  prepareQuery<T extends PreparedQueryConfig = PreparedQueryConfig>(
    query: Query & { typings?: unknown[] },
    fields: Fields | undefined,
    _name: string | undefined,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => T["execute"],
    queryMetadata?: { type: "select" | "update" | "delete" | "insert"; tables: string[] },
    cacheConfig?: WithCacheConfig,
  ): PreparedQuery<T> {
    const { logger, cache } = this.#options;
    return new PreparedQuery<T>(
      runOn(this.#executor, fields),
      query.sql,
      query.params,
      query.typings,
      logger,
      // Its type says required; Drizzle's drivers pass none without a cache.
      cache as Cache,
      queryMetadata,
      cacheConfig,
      fields as never,
      isResponseInArrayMode,
      customResultMapper,
    );
  }

  /** Runs `transaction` on one pooled connection: `BEGIN`, then `COMMIT`, or `ROLLBACK` when it throws. */
  transaction<T>(
    transaction: (tx: PoolTransaction<TFullSchema, TSchema>) => Promise<T>,
    config?: PgTransactionConfig,
  ): Promise<T> {
    const pool = this.#pool;
    if (pool === undefined) {
      // Unreachable: a transaction's own transaction() makes a savepoint instead.
      return Promise.reject(new Error("Cannot begin a transaction inside a transaction"));
    }
    return pool.transaction((tx) => {
      const session = new PoolSession<TFullSchema, TSchema>(
        tx,
        undefined,
        this.dialect,
        this.#schema,
        this.#options,
      );
      return transaction(new PoolTransaction(this.dialect, session, this.#schema));
    }, transactionOptions(config));
  }
}

/** Drizzle's transaction: nested ones are savepoints on the same connection. */
export class PoolTransaction<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgTransaction<PoolQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = "XPoolTransaction";
  readonly #session: PoolSession<TFullSchema, TSchema>;
  readonly #schema: Schema<TSchema>;
  readonly #dialect: PgDialect;

  constructor(
    dialect: PgDialect,
    session: PoolSession<TFullSchema, TSchema>,
    schema: Schema<TSchema>,
    nestedIndex = 0,
  ) {
    super(dialect, session, schema, nestedIndex);
    this.#session = session;
    this.#schema = schema;
    this.#dialect = dialect;
  }

  /** Runs `transaction` inside a savepoint: released when it returns, rolled back to when it throws. */
  async transaction<T>(
    transaction: (tx: PoolTransaction<TFullSchema, TSchema>) => Promise<T>,
  ): Promise<T> {
    const savepoint = `sp${this.nestedIndex + 1}`;
    const tx = new PoolTransaction(
      this.#dialect,
      this.#session,
      this.#schema,
      this.nestedIndex + 1,
    );
    await tx.execute(sql.raw(`savepoint ${savepoint}`));
    let result: T;
    try {
      result = await transaction(tx);
    } catch (error) {
      await tx.execute(sql.raw(`rollback to savepoint ${savepoint}`));
      throw error;
    }
    await tx.execute(sql.raw(`release savepoint ${savepoint}`));
    return result;
  }
}

/**
 * Drizzle's transaction modes as the pool's.
 *
 * @throws {RangeError} An unknown isolation level (from the pool).
 */
function transactionOptions(config: PgTransactionConfig | undefined): TransactionOptions {
  if (config === undefined) return {};
  const { isolationLevel, accessMode, deferrable } = config;
  return {
    isolationLevel,
    readOnly: accessMode === undefined ? undefined : accessMode === "read only",
    deferrable,
  };
}
