/**
 * Replication lag in milliseconds from WAL positions: the primary's position
 * is sampled on every health check, and a replica is as far behind as the
 * oldest sample it has not replayed yet.
 *
 * Why not `now() - pg_last_xact_replay_timestamp()` on the replica: that is
 * the age of the last transaction replayed, which on an idle primary grows
 * without bound while the replica is fully caught up. Positions do not move
 * when nothing is written, so an idle cluster reads as zero lag.
 *
 * @module
 */

/** The most samples kept; past that the oldest go, and a lag reads as at least the oldest kept. */
const MAX_SAMPLES = 1_000;

interface Sample {
  /** The clock's time when the primary reported `lsn`. */
  at: number;
  lsn: bigint;
}

/** The primary's WAL positions over time, each the first time it was seen. */
export class PrimaryWalHistory {
  /** Oldest first, with strictly increasing positions. */
  #samples: Sample[] = [];

  /** Whether the primary's position was ever seen, so that lag can be measured. */
  get known(): boolean {
    return this.#samples.length > 0;
  }

  /**
   * Notes that the primary was at `lsn` at time `at`; a position seen before
   * keeps its first time. A position behind the last one means another
   * server answers as primary now (a failover behind the same address): the
   * old server's positions say nothing of it, so they are forgotten.
   */
  record(at: number, lsn: bigint): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && lsn === last.lsn) return;
    if (last !== undefined && lsn < last.lsn) this.#samples = [];
    this.#samples.push({ at, lsn });
    if (this.#samples.length > MAX_SAMPLES) this.#samples.shift();
  }

  /**
   * Milliseconds from the first sample the replica has not replayed to `now`:
   * the primary had written that much by then, and the replica still shows
   * none of it. 0 when it has replayed every sample. A lower bound of the
   * true lag, short of it by at most one health interval.
   */
  lag(replayLsn: bigint | undefined, now: number): number {
    const behind = this.#samples.find((sample) =>
      replayLsn === undefined || sample.lsn > replayLsn
    );
    return behind === undefined ? 0 : Math.max(0, Math.round(now - behind.at));
  }

  /** Forgets the samples that every replica has replayed past, but the last of them. */
  trim(slowest: bigint): void {
    const samples = this.#samples;
    let keepFrom = 0;
    while (keepFrom + 1 < samples.length && samples[keepFrom + 1].lsn <= slowest) keepFrom++;
    if (keepFrom > 0) this.#samples = samples.slice(keepFrom);
  }
}
