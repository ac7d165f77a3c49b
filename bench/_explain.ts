/**
 * For each target missed, what the numbers of the same results say stands
 * in the way, and what would close the gap.
 *
 * @module
 */

import {
  bestOurs,
  cpuPerQuery,
  FLOOR,
  num,
  OURS_A,
  OURS_B,
  OURS_SERIAL,
  pipelines,
  POSTGRES_SERIAL,
  ratio,
  type Results,
  type SelectCell,
} from "./_render_common.ts";
import type { Check } from "./_targets.ts";

/** A reason: why the target was missed, and what would close it. */
export interface Reason {
  why: string;
  close: string;
}

/** Why a target was missed and what would close it, from the measured values. */
export function explain(r: Results, check: Check): Reason {
  if (check.select) return explainSelect(r, check.select);
  return check.target.startsWith("A:") ? explainOverhead(r, check) : explainRest(r, check);
}

/** C, D and E: what the benchmark recorded beside the figure. */
function explainRest(r: Results, check: Check): Reason {
  if (check.target.startsWith("C:")) {
    const c = r.utilization.median;
    return {
      why: `sampled inUse ÷ open ${num(c.sampledInUse, 1)}%, callers waiting in ` +
        `${num(c.sampledWaiting, 1)}% of samples, ${num(c.waitedShare, 1)}% of acquisitions ` +
        "waited: the time-weighted figure counts each moment a connection sits idle between " +
        "its last statement's end and the next one's start",
      close: `Shorter hand-offs, and a longer load (${num(r.utilization.loadMs)} ms per run) ` +
        "on a quieter machine",
    };
  }
  if (check.target.startsWith("D:")) {
    const d = r.health.on.median;
    return {
      why: `${num(d.checks)} pings per run took ${num(d.checkMs, 2)} ms in all, over ` +
        `${num(r.health.loadMs)} ms of load on ${r.health.poolSize} connections`,
      close: "Fewer pings (a longer `healthInterval`) or cheaper ones",
    };
  }
  return {
    why: `the heap grew ${num(r.memory.heapGrowth)} bytes over ${num(r.memory.cycles)} cycles ` +
      `(allocated per cycle: ${num(r.memory.bytesPerCycle)} bytes)`,
    close: "Find what the pool keeps per cycle (a heap snapshot before and after)",
  };
}

const upper = (text: string) => text.replace(/^./, (c) => c.toUpperCase());

function explainOverhead(r: Results, check: Check): Reason {
  const callers = Number(/(\d+) callers?$/.exec(check.target)?.[1] ?? 1);
  const cell = (lender: string) =>
    r.overhead.rows.find((row) => row.lender === lender && row.callers === callers)!.median;
  const ours = cell(OURS_A);
  const floor = cell(FLOOR).meanNs;
  const clock = r.overhead.clock;
  const reads = callers === 1 ? clock?.readsPerCycle1 : clock?.readsPerCycle50;
  // Results without the clock's cost leave it inside the pool's logic.
  const clockNs = clock && reads !== undefined ? reads * clock.readNs : 0;
  const logic = ours.meanNs - floor - clockNs;
  const parts = clock && reads !== undefined
    ? `the bare \`await\` costs ${num(floor)} ns; the pool's clock, \`performance.now()\`, ` +
      `costs ${num(clock.readNs)} ns a read here and a cycle reads it ${num(reads, 2)} times ` +
      `(${num(clockNs)} ns); that leaves ${num(logic)} ns of pool logic`
    : `the bare \`await\` costs ${num(floor)} ns, leaving ${num(logic)} ns of pool logic and ` +
      "clock reads (this run did not measure the clock)";
  const clockFix = "a cheaper monotonic clock in the runtime, or one timestamp per " +
    "event-loop turn instead of per call (coarser lifetimes, idle times and wait metrics)";
  if (check.target.includes("mean ≤")) {
    const limit = Number(/≤ (\d+)/.exec(check.target)![1]);
    return floor + clockNs >= limit
      ? {
        why: `${parts}: the await and the clock alone exceed ${num(limit)} ns`,
        close: floor >= limit
          ? `Not the pool's code: the runtime's \`await\` alone takes ${num(floor)} ns`
          : `Not the pool's code alone: ${clockFix}; without clock reads the logic would ` +
            `need to fit in ${num(limit - floor)} ns`,
      }
      : {
        why: parts,
        close: `Pool logic down to ${num(limit - floor - clockNs)} ns, or ${clockFix}`,
      };
  }
  if (check.target.includes("faster than the fastest peer")) {
    const peers = r.overhead.rows.filter((row) =>
      row.callers === callers && row.lender !== OURS_A && row.lender !== FLOOR
    );
    const fastest = peers.reduce((best, row) =>
      row.median.meanNs < best.median.meanNs ? row : best
    );
    const needed = fastest.median.meanNs / 3;
    return {
      why: `${fastest.lender} takes ${num(fastest.median.meanNs)} ns; 3× needs ≤ ` +
        `${num(needed)} ns, and ${parts}`,
      close: needed <= floor + clockNs
        ? `Out of reach while a cycle awaits once and reads the clock: ${num(needed)} ns is ` +
          `below the await and the clock reads (${num(floor + clockNs)} ns)`
        : `Pool logic down to ${num(needed - floor - clockNs)} ns, or ${clockFix}`,
    };
  }
  const single = callers === 1 && ours.singleP99Ns > 2_000
    ? `; timed one by one, the p99 of ${num(ours.singleP99Ns)} ns includes two reads of the ` +
      `benchmark's own clock`
    : "";
  return {
    why: `p99 ${num(ours.p99Ns)} ns per ${callers === 1 ? "batch" : "round"} against a p50 ` +
      `of ${num(ours.p50Ns)} ns${single}: the ` +
      `slow rounds are the tail (collections and other processes on ${r.machine.cores} ` +
      `cores, load ${r.machine.loadAverageAtStart[0]} at start), on top of a mean of ` +
      `${num(ours.meanNs)} ns`,
    close: "A lower mean (see above) and a quieter machine; fewer allocations per hand-off",
  };
}

/** Counts as a gain from pipelining: a tenth or more over the same client without it. */
const GAIN = 1.1;

function explainSelect(r: Results, target: NonNullable<Check["select"]>): Reason {
  const { query, callers, versus, share } = target;
  const row = (client: string) =>
    r.select.rows.find((row) =>
      row.client === client && row.query === query && row.callers === callers
    );
  const best = bestOurs(r, query, callers)!;
  const ours = best.row.median;
  const theirs = row(versus)!.median;
  const poolSize = r.select.poolSize;
  const cpu = (x: SelectCell) => `${num(cpuPerQuery(x))} µs`;
  const oursName = `@x/pool (${best.driver})`;
  const crowded = callers > poolSize;
  const s = callers > 1 ? "s" : "";
  const depth = `on average at most ${num(callers / poolSize)} statements in flight per ` +
    "connection";

  if (share === undefined) {
    const tail = `so the tail is pauses in the client (collections, event-loop turns) and the ` +
      `server, on a machine ${num(ours.machineCpu)}% busy`;
    const p50 = `p50 ${num(ours.p50Us)} µs vs ${num(theirs.p50Us)} µs`;
    if (!crowded) {
      return {
        why: `${p50}; no caller waits for a connection (${callers} caller${s}, ${poolSize} ` +
          `connections), ${tail}`,
        close: `Fewer allocations per query (client CPU ${cpu(ours)} per query for ` +
          `${oursName} vs ${cpu(theirs)}), and a quieter machine: p99 over a ` +
          `${num(r.select.cellMs)} ms cell rests on few samples`,
      };
    }
    return pipelines(r)
      ? {
        why: `${p50}; with ${callers} callers on ${poolSize} connections both pipeline ` +
          `(@x/pool once every connection is busy, ${depth}), ${tail}`,
        close: `Less client CPU per query (${cpu(ours)} for ${oursName} vs ${cpu(theirs)}), ` +
          `and a quieter machine (client and server share ${r.machine.cores} cores)`,
      }
      : {
        why: `${p50}; in this run @x/pool did not pipeline yet, so with ${callers} callers on ` +
          `${poolSize} connections a caller's latency included its wait in line for a ` +
          `connection, while postgres.js queues statements on the sockets`,
        close: "Pipelining in @x/pool (a run of the current code), and a quieter machine",
      };
  }

  const why: string[] = [
    `client CPU per query ${cpu(ours)} for ${oursName} vs ${cpu(theirs)} for ${versus}, with ` +
    `the machine ${num(ours.machineCpu)}% busy`,
  ];
  const close: string[] = [];
  const rawGain = gain(r, query, callers, "postgres.js", POSTGRES_SERIAL);
  if (!crowded) {
    why.push(
      `@x/pool pipelines nothing at ${callers} caller${s} on ${poolSize} connections (a ` +
        "caller always finds a free one)" +
        (versus === "postgres.js" && rawGain.ratio >= GAIN
          ? `, while postgres.js gains from pipelining here (${rawGain.text})`
          : ""),
    );
  } else if (!pipelines(r)) {
    why.push(
      "in this run @x/pool did not pipeline yet (its results have no `maxPipeline: 0` row)" + (
        versus === "postgres.js"
          ? `, while postgres.js pipelined (${rawGain.text})`
          : versus === "Bun.SQL"
          ? ", while Bun.SQL pipelined"
          : `, nor did ${versus}`
      ),
    );
    if (versus === "Bun.SQL" || (versus === "postgres.js" && rawGain.ratio >= GAIN)) {
      close.push("pipelining in @x/pool: a run of the current code");
    }
  } else {
    const ourGain = gain(r, query, callers, OURS_B, OURS_SERIAL);
    why.push(
      `@x/pool pipelines (on its postgres.js driver ${ourGain.text}); ` + (
        versus === "postgres.js"
          ? `so does postgres.js (${rawGain.text}), sending up to 100 behind the running ` +
            `statement where @x/pool sends up to \`maxPipeline\` (10), but ${callers} callers ` +
            `on ${poolSize} connections make ${depth}, so neither depth binds`
          : versus === "Bun.SQL"
          ? "so does Bun.SQL (it has no row without)"
          : `${versus} does not, running one statement per connection at a time`
      ),
    );
  }
  const alone = row(best.alone)?.median;
  if (cpuPerQuery(ours) > cpuPerQuery(theirs)) {
    const added = alone ? cpuPerQuery(ours) - cpuPerQuery(alone) : NaN;
    close.push(
      !alone
        ? "less client CPU per query in the pool and driver"
        : added > 0
        ? `less client CPU per query in the pool: it adds about ${num(added)} µs to ` +
          `${best.alone} alone (${cpu(alone)})`
        : `a cheaper driver under the pool: ${best.alone} alone takes ${cpu(alone)}, so the ` +
          "cost is the driver's, not the pool's",
    );
  }
  const gap = 1 - ours.opsPerSec / (share * theirs.opsPerSec);
  const spreads = [best.row.client, versus].map((client) => spread(row(client)!.runs));
  if (Math.max(...spreads) >= gap) {
    close.push(
      `nothing certain: the gap (${num(gap * 100)}%) is within the run-to-run spread ` +
        `(${num(spreads[0] * 100)}% for ours, ${num(spreads[1] * 100)}% for ${versus})`,
    );
  }
  if (close.length === 0) {
    close.push(`a quieter machine (client and server share ${r.machine.cores} cores)`);
  }
  return { why: why.join("; "), close: upper(close.join("; ")) };
}

/** A client's throughput with pipelining over without it, and the sentence that says so. */
function gain(
  r: Results,
  query: string,
  callers: number,
  client: string,
  serial: string,
): { ratio: number; text: string } {
  const ops = (name: string) =>
    r.select.rows.find((row) =>
      row.client === name && row.query === query && row.callers === callers
    )?.median.opsPerSec ?? NaN;
  const [on, off] = [ops(client), ops(serial)];
  return {
    ratio: on / off,
    text: `${num(on)} ops/s against ${num(off)} with \`${
      serial.slice(serial.indexOf("(") + 1, -1)
    }\`, ${ratio(on / off)}`,
  };
}

/** How far a cell's runs lie apart: 1 − lowest ÷ highest throughput. */
function spread(runs: { opsPerSec: number }[]): number {
  const values = runs.map((run) => run.opsPerSec);
  return 1 - Math.min(...values) / Math.max(...values);
}
