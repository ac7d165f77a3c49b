/**
 * Where each call of a cluster goes: writes to the primary, reads to the
 * least busy replica in rotation (ties in turn), or to the primary when none
 * is in rotation or the caller's session wrote too recently.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { ExecuteOptions } from "./connection.ts";
import type { QueryResult } from "./driver.ts";
import { PoolClosedError } from "./errors.ts";
import type { Transaction, TransactionOptions } from "./transaction.ts";
import { NoHealthyReplicaError, PrimaryReadOnlyError } from "./_cluster_errors.ts";
import type { ClusterMember } from "./_cluster_member.ts";
import { TrackedTransaction } from "./_cluster_transaction.ts";

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
}

/** Chooses members and runs calls on their pools. */
export class ClusterRouter {
  readonly primary: ClusterMember;
  readonly replicas: readonly ClusterMember[];
  readonly counters: RoutingCounters = {
    fallbackReads: 0,
    readYourWritesReads: 0,
    readsRefused: 0,
    writesRefused: 0,
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
    const member = this.#writer();
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
    const member = await this.#reader(writer);
    return this.#run(member, () => member.pool.execute<Row>(text, params, options));
  }

  async beginTx(
    options: TransactionOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<Transaction> {
    const reading = options?.readOnly === true;
    const member = reading ? await this.#reader(writer) : this.#writer();
    member.inFlight++;
    let inner: Transaction;
    try {
      inner = await member.pool.beginTx(options);
    } catch (error) {
      member.inFlight--;
      if (!reading) this.#wrote(writer);
      throw error;
    }
    return new TrackedTransaction(inner, () => {
      member.inFlight--;
      if (!reading) this.#wrote(writer);
    });
  }

  async transaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    options: TransactionOptions | undefined,
    writer: WriterState | undefined,
  ): Promise<T> {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot run transaction: fn must be a function, got ${typeof fn}`);
    }
    if (options?.readOnly === true) {
      const member = await this.#reader(writer);
      return this.#run(member, () => member.pool.transaction(fn, options));
    }
    const member = this.#writer();
    try {
      return await this.#run(member, () => member.pool.transaction(fn, options));
    } finally {
      this.#wrote(writer);
    }
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

  #writer(): ClusterMember {
    this.#open("write");
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
    let member: ClusterMember | undefined;
    if (this.pinned(writer)) {
      this.counters.readYourWritesReads++;
      member = this.primary;
    } else {
      member = this.pickReplica();
      if (member === undefined) {
        if (this.#settings.readFallback === "fail") {
          this.counters.readsRefused++;
          throw new NoHealthyReplicaError(this.replicas.length);
        }
        this.counters.fallbackReads++;
        member = this.primary;
      }
    }
    member.reads++;
    return member;
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
