/**
 * Where each call of a cluster goes: writes to the primary, reads to the
 * least busy replica in rotation (ties in turn), or to the primary when none
 * is in rotation or the caller's session wrote too recently.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { ExecuteOptions, PoolConnection } from "../connection.ts";
import type { QueryResult } from "../driver.ts";
import { PoolClosedError, PoolError } from "../errors.ts";
import {
  beginStatement,
  checkTransactionFn,
  OpenTransaction,
  runInTransaction,
} from "../_core/open_transaction.ts";
import { type Attempt, checkRetries, retryTransaction } from "../_core/retry.ts";
import { coreOf } from "../_core/pool_cores.ts";
import type { Transaction, TransactionOptions } from "../transaction.ts";
import { NoHealthyReplicaError, NoPrimaryError, PrimaryReadOnlyError } from "./errors.ts";
import { acquireFromReplica, REPLICA_UNREACHABLE, replicaUnreachable } from "./_failover.ts";
import type { ClusterMember } from "./_member.ts";
import { TrackedTransaction } from "./_transaction.ts";

/** A caller whose reads follow its own writes: the time of its last write. */
export interface WriterState {
  lastWriteAt: number | undefined;
}

/** What the router needs besides the members. */
export interface RouterSettings {
  clock: Clock;
  readFallback: "primary" | "fail";
  /** 0 turns read-your-writes off. */
  readYourWritesWindow: number;
  /** While the first health round runs, a promise of its end; reads wait for it. */
  firstRound(): Promise<void> | undefined;
  /** Whether roles come from the health checks: then writes wait for the first round too. */
  learnsRoles: boolean;
  /** Tells the cluster's `onError` hook; never throws. */
  report(error: unknown, event: "readFailover", member: string): void;
}

/** Counts of routing decisions, for the cluster's metrics. */
export interface RoutingCounters {
  /** Reads sent to the primary because no replica was in rotation. */
  fallbackReads: number;
  /** Reads sent to the primary because their session wrote within the window. */
  readYourWritesReads: number;
  /** Reads refused with `NoHealthyReplicaError`. */
  readsRefused: number;
  /** Writes refused with `PrimaryReadOnlyError`. */
  writesRefused: number;
  /** Reads run again on the next choice after their replica was found unreachable. */
  readsRetried: number;
}

/** Chooses members and runs calls on their pools. */
export class ClusterRouter {
  /** Changed only by the role checks of a cluster of `members`. */
  primary: ClusterMember;
  replicas: readonly ClusterMember[];
  /**
   * Set while a cluster of `members` has no single primary: the members
   * that claim it (none, or several). Writes are refused meanwhile.
   */
  claimants: readonly string[] | undefined;
  readonly counters: RoutingCounters = {
    fallbackReads: 0,
    readYourWritesReads: 0,
    readsRefused: 0,
    writesRefused: 0,
    readsRetried: 0,
  };
  closed = false;
  readonly #settings: RouterSettings;
  /** Where the search for the next replica starts, so ties go round in turn. */
  #cursor = 0;

  constructor(
    primary: ClusterMember,
    replicas: readonly ClusterMember[],
    settings: RouterSettings,
  ) {
    this.primary = primary;
    this.replicas = replicas;
    this.#settings = settings;
  }

  /** Whether `writer` wrote within the read-your-writes window. */
  pinned(writer: WriterState | undefined): boolean {
    const window = this.#settings.readYourWritesWindow;
    const last = writer?.lastWriteAt;
    return window > 0 && last !== undefined && this.#settings.clock.now() - last < window;
  }

  async execute<Row>(
    text: string,
    params: readonly unknown[] | undefined,
    options: ExecuteOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<QueryResult<Row>> {
    const member = await this.#writerReady();
    try {
      return await this.#run(member, () => member.pool.execute<Row>(text, params, options));
    } finally {
      this.#wrote(writer);
    }
  }

  async executeRead<Row>(
    text: string,
    params: readonly unknown[] | undefined,
    options: ExecuteOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<QueryResult<Row>> {
    const { member, value } = await this.#read(writer, options?.signal, async (connection) => {
      const result = await connection.execute<Row>(text, params, options);
      connection.release();
      return result;
    });
    member.inFlight--;
    return value;
  }

  async beginTx(
    options: TransactionOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<Transaction> {
    if (options?.readOnly === true) return this.#beginRead(options, writer, {});
    const member = await this.#writerReady();
    member.inFlight++;
    let inner: Transaction;
    try {
      inner = await member.pool.beginTx(options);
    } catch (error) {
      member.inFlight--;
      this.#wrote(writer);
      throw error;
    }
    return new TrackedTransaction(inner, () => {
      member.inFlight--;
      this.#wrote(writer);
    });
  }

  async transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options: TransactionOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<T> {
    // Before a member is chosen, so a bad call counts as no write.
    checkTransactionFn(fn);
    const retries = checkRetries(options?.retries);
    if (options?.readOnly === true) {
      // Each attempt chooses its replica anew: the one that failed may be out of rotation by now.
      const begin = (attempt: Attempt) => this.#beginRead(options, writer, attempt);
      if (retries === 0) return runInTransaction(() => begin({}), fn);
      return retryTransaction(begin, fn, retries, options.signal);
    }
    const member = await this.#writerReady();
    try {
      return await this.#run(member, () => member.pool.transaction(fn, options));
    } finally {
      this.#wrote(writer);
    }
  }

  /**
   * Begins a read-only transaction on the member chosen for a read, with the
   * read's retry of an unreachable replica; notes in `attempt` where it ran.
   */
  async #beginRead(
    options: TransactionOptions,
    writer: WriterState | undefined,
    attempt: Attempt,
  ): Promise<Transaction> {
    const begin = beginStatement(options);
    const { member, value } = await this.#read(
      writer,
      options.signal,
      async (connection, member) => {
        attempt.core = coreOf(member.pool);
        await connection.execute(begin, [], { signal: options.signal });
        return attempt.tx = new OpenTransaction(connection);
      },
    );
    return new TrackedTransaction(value, () => member.inFlight--);
  }

  /** The least busy replica in rotation, searching from the cursor so ties go in turn. */
  pickReplica(): ClusterMember | undefined {
    const replicas = this.replicas;
    let best: ClusterMember | undefined;
    let bestIndex = 0;
    for (let k = 0; k < replicas.length; k++) {
      const index = (this.#cursor + k) % replicas.length;
      const replica = replicas[index];
      if (replica.healthy && (best === undefined || replica.inFlight < best.inFlight)) {
        best = replica;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#cursor = (bestIndex + 1) % replicas.length;
    return best;
  }

  /** The primary for a write, once the first round has said which member it is. */
  async #writerReady(): Promise<ClusterMember> {
    this.#open("write");
    const first = this.#settings.learnsRoles ? this.#settings.firstRound() : undefined;
    if (first !== undefined) await first;
    return this.#writer();
  }

  #writer(): ClusterMember {
    this.#open("write");
    if (this.claimants !== undefined) {
      this.counters.writesRefused++;
      throw new NoPrimaryError(this.claimants);
    }
    const primary = this.primary;
    if (primary.readOnly) {
      this.counters.writesRefused++;
      throw new PrimaryReadOnlyError(primary.name);
    }
    primary.writes++;
    return primary;
  }

  async #reader(writer: WriterState | undefined): Promise<ClusterMember> {
    this.#open("read");
    const first = this.#settings.firstRound();
    if (first !== undefined) {
      await first;
      this.#open("read");
    }
    if (this.pinned(writer)) {
      this.counters.readYourWritesReads++;
      this.primary.reads++;
      return this.primary;
    }
    return this.#replicaOrFallback();
  }

  #replicaOrFallback(): ClusterMember {
    let member = this.pickReplica();
    if (member === undefined) {
      if (this.#settings.readFallback === "fail") {
        this.counters.readsRefused++;
        throw new NoHealthyReplicaError(this.replicas.length);
      }
      this.counters.fallbackReads++;
      member = this.primary;
    }
    member.reads++;
    return member;
  }

  /**
   * Runs `use` on a connection of the member chosen for a read, counting it
   * in that member's `inFlight` (the caller takes it off once done). `use`
   * releases the connection when it succeeds; on failure it is released
   * here. A replica found unreachable before `use` succeeded (see
   * {@linkcode replicaUnreachable}) leaves rotation, and the read runs once
   * more on the next choice, unless the caller aborted.
   */
  async #read<T>(
    writer: WriterState | undefined,
    signal: AbortSignal | undefined,
    use: (connection: PoolConnection, member: ClusterMember) => Promise<T>,
  ): Promise<{ member: ClusterMember; value: T }> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      // Refused here: caught below, the caller's mistake would take a replica out.
      throw new TypeError(`Cannot read: signal must be an AbortSignal, got ${typeof signal}`);
    }
    let member = await this.#reader(writer);
    for (let retried = false;; retried = true) {
      member.inFlight++;
      let connection: PoolConnection | undefined;
      try {
        connection = member.role === "replica"
          ? await acquireFromReplica(member, this.#settings.clock, signal)
          : await member.pool.getConnection({ signal });
        return { member, value: await use(connection, member) };
      } catch (error) {
        member.inFlight--;
        const lost = connection !== undefined && this.#releaseLost(member, connection);
        if (
          retried || member.role !== "replica" || signal?.aborted || this.closed ||
          !replicaUnreachable(error, connection !== undefined, lost)
        ) throw error;
        this.#takeOut(member, error);
        this.counters.readsRetried++;
        member = this.#replicaOrFallback();
      }
    }
  }

  /**
   * Releases a connection whose statement failed, and says whether the pool
   * retired it as lost: release() retires a closed connection at once, so
   * the counter moves between the two reads only for this one.
   */
  #releaseLost(member: ClusterMember, connection: PoolConnection): boolean {
    const before = member.pool.getMetrics().connectionsLost;
    connection.release();
    return member.pool.getMetrics().connectionsLost > before;
  }

  /** Takes a replica out of rotation after a read found it unreachable; reported once. */
  #takeOut(member: ClusterMember, cause: unknown): void {
    member.failovers++;
    if (member.trouble !== undefined) return;
    member.trouble = "unreachable";
    member.removals++;
    const error = cause instanceof PoolError && cause.code === REPLICA_UNREACHABLE
      ? cause
      : new PoolError(
        REPLICA_UNREACHABLE,
        `Replica "${member.name}" could not serve a read (${
          cause instanceof Error ? cause.message : String(cause)
        }): out of rotation until a health check finds it well`,
        { cause },
      );
    this.#settings.report(error, "readFailover", member.name);
  }

  async #run<T>(member: ClusterMember, call: () => Promise<T>): Promise<T> {
    member.inFlight++;
    try {
      return await call();
    } finally {
      member.inFlight--;
    }
  }

  #wrote(writer: WriterState | undefined): void {
    if (writer !== undefined) writer.lastWriteAt = this.#settings.clock.now();
  }

  #open(action: string): void {
    if (this.closed) throw new PoolClosedError(`Cannot ${action}: the cluster is closed`);
  }
}
