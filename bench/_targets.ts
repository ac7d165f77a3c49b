/**
 * The targets of the benchmarks, checked against one runtime's results, and
 * for each one missed, what the numbers say stands in the way.
 *
 * @module
 */

import type { QueryKind } from "./_contenders.ts";
import {
  cpuPerQuery,
  FLOOR,
  num,
  OURS_A,
  OURS_B,
  QUERY_TEXT,
  ratio,
  type Results,
  type SelectCell,
} from "./_render_common.ts";

// ---- the targets

/** One target and how it fared. */
export interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** Every target, checked against `r`. */
export function checks(r: Results): Check[] {
  const out: Check[] = [];
  const a = (lender: string, callers: number) =>
    r.overhead.rows.find((row) => row.lender === lender && row.callers === callers);
  for (const callers of [1, 50]) {
    const ours = a(OURS_A, callers)!.median;
    const floor = a(FLOOR, callers)!.median;
    const limit = callers === 1 ? 250 : 500;
    out.push({
      target: `A: mean ≤ ${limit} ns/op, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: `${num(ours.meanNs)} ns (floor + ${num(ours.meanNs - floor.meanNs)})`,
      met: ours.meanNs <= limit,
    });
    const peers = r.overhead.rows.filter((row) =>
      row.callers === callers && row.lender !== OURS_A && row.lender !== FLOOR
    );
    const fastest = peers.reduce((best, row) =>
      row.median.meanNs < best.median.meanNs ? row : best
    );
    out.push({
      target: `A: ≥ 3× faster than the fastest peer, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: `${ratio(fastest.median.meanNs / ours.meanNs)} (${fastest.lender})`,
      met: fastest.median.meanNs / ours.meanNs >= 3,
    });
    out.push({
      target: `A: p99 ≤ 2 µs, ${callers} caller${callers > 1 ? "s" : ""}`,
      measured: callers === 1
        ? `${num(ours.p99Ns)} ns per batch, ${num(ours.singleP99Ns)} ns single op`
        : `${num(ours.p99Ns)} ns per round`,
      met: ours.p99Ns <= 2_000 && (callers > 1 || ours.singleP99Ns <= 2_000),
    });
  }
  const jain = a(OURS_A, 50)!.median.jain;
  out.push({
    target: "A: Jain index ≥ 0.99, 50 callers",
    measured: num(jain, 4),
    met: jain >= 0.99,
  });

  const b = (client: string, query: QueryKind, callers: number) =>
    r.select.rows.find((row) =>
      row.client === client && row.query === query && row.callers === callers
    )
      ?.median;
  for (const query of ["select1", "param"] as QueryKind[]) {
    for (const callers of [1, 10, 50]) {
      const ours = b(OURS_B, query, callers)!;
      const raw = b("postgres.js", query, callers)!;
      const pgPool = b("pg Pool", query, callers)!;
      const where = `\`${QUERY_TEXT[query]}\`, ${callers} caller${callers > 1 ? "s" : ""}`;
      out.push({
        target: `B: ≥ 100% of postgres.js throughput, ${where}`,
        measured: `${num((ours.opsPerSec / raw.opsPerSec) * 100)}%`,
        met: ours.opsPerSec >= raw.opsPerSec,
      });
      out.push({
        target: `B: ahead of pg Pool, ${where}`,
        measured: `${num((ours.opsPerSec / pgPool.opsPerSec) * 100)}%`,
        met: ours.opsPerSec > pgPool.opsPerSec,
      });
      out.push({
        target: `B: p99 ≤ postgres.js p99, ${where}`,
        measured: `${num(ours.p99Us)} µs vs ${num(raw.p99Us)} µs`,
        met: ours.p99Us <= raw.p99Us,
      });
    }
  }
  const c = r.utilization.median.utilization;
  out.push({
    target: "C: utilization ≥ 99% at saturation",
    measured: `${num(c, 2)}%`,
    met: c >= 99,
  });
  const d = r.health.on.median.checkShare;
  out.push({
    target: "D: health-check time < 0.1% of open-connection time",
    measured: `${num(d, 4)}%`,
    met: d < 0.1,
  });
  const e = r.memory.heapGrowth;
  out.push({
    target: `E: heap growth < 1 MB over ${num(r.memory.cycles)} cycles`,
    measured: `${num(e)} bytes`,
    met: e < 1_000_000,
  });
  return out;
}

/** Why a target was missed and what would close it, from the measured values. */
export function explain(r: Results, check: Check): { why: string; close: string } {
  const callers = Number(/(\d+) callers?$/.exec(check.target)?.[1] ?? 1);
  if (check.target.startsWith("A:")) {
    const cell = (lender: string) =>
      r.overhead.rows.find((row) => row.lender === lender && row.callers === callers)!.median;
    const ours = cell(OURS_A);
    const floor = cell(FLOOR).meanNs;
    const reads = callers === 1
      ? r.overhead.clock.readsPerCycle1
      : r.overhead.clock.readsPerCycle50;
    const clockNs = reads * r.overhead.clock.readNs;
    const logic = ours.meanNs - floor - clockNs;
    const parts = `the bare \`await\` costs ${num(floor)} ns and ${num(reads, 2)} clock reads ` +
      `${num(clockNs)} ns (${num(r.overhead.clock.readNs)} ns each), leaving ${num(logic)} ns ` +
      `of pool logic`;
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
  const query = check.target.includes("$1") ? "param" : "select1";
  const cell = (client: string) =>
    r.select.rows.find((row) =>
      row.client === client && row.query === query && row.callers === callers
    )!.median;
  const ours = cell(OURS_B);
  const raw = cell("postgres.js");
  const serial = cell("postgres.js (max_pipeline: 0)");
  const pgPool = cell("pg Pool");
  const cpu = (x: SelectCell) => `${num(cpuPerQuery(x))} µs`;
  if (check.target.includes("of postgres.js throughput")) {
    const runs = r.select.rows.find((row) =>
      row.client === OURS_B && row.query === query && row.callers === callers
    )!.runs.map((run) => run.opsPerSec);
    const spread = 1 - Math.min(...runs) / Math.max(...runs);
    // Pipelining counts when it gains a tenth or more over the same client without it.
    const pipelined = raw.opsPerSec >= serial.opsPerSec * 1.1;
    const behindSerial = ours.opsPerSec < serial.opsPerSec;
    const why = [
      pipelined
        ? `postgres.js pipelines statements onto busy connections: ${num(raw.opsPerSec)} ` +
          `ops/s against ${num(serial.opsPerSec)} with \`max_pipeline: 0\``
        : "",
      `client CPU per query ${cpu(ours)} (ours) vs ${cpu(raw)} (postgres.js) and ` +
      `${cpu(serial)} (postgres.js, \`max_pipeline: 0\`), with the machine ` +
      `${num(ours.machineCpu)}% busy`,
    ].filter(Boolean).join("; ");
    return {
      why,
      close: [
        pipelined
          ? "pipelining, which a pool does not do by design (a statement would wait behind a " +
            "slow one and share its failure)"
          : "",
        behindSerial
          ? `less client CPU per query in the pool and driver (we reach ${
            num((ours.opsPerSec / serial.opsPerSec) * 100)
          }% of postgres.js without pipelining)`
          : "",
        spread >= 1 - ours.opsPerSec / raw.opsPerSec
          ? `nothing certain: the gap is within our cell's run-to-run spread (${
            num(spread * 100)
          }%)`
          : "",
      ].filter(Boolean).join("; ").replace(/^./, (c) => c.toUpperCase()),
    };
  }
  if (check.target.includes("pg Pool")) {
    return {
      why: `client CPU per query ${cpu(ours)} (ours) vs ${cpu(pgPool)} (pg); postgres.js ` +
        `alone without pipelining: ${cpu(serial)}, ${
          num((serial.opsPerSec / pgPool.opsPerSec) * 100)
        }% of pg's throughput`,
      close: "A cheaper driver under the pool (the gap is mostly postgres.js's per-query cost); " +
        "the pool's share is the difference between ours and postgres.js without pipelining",
    };
  }
  const poolSize = r.select.poolSize;
  return callers > poolSize
    ? {
      why: `p50 ${num(ours.p50Us)} µs vs ${num(raw.p50Us)} µs; with ${callers} callers on ` +
        `${poolSize} connections a caller's latency includes its wait in line for a ` +
        `connection, while postgres.js queues statements on the sockets; machine ` +
        `${num(ours.machineCpu)}% busy`,
      close: "More connections per caller, or a quieter machine (client and server share " +
        `${r.machine.cores} cores)`,
    }
    : {
      why: `p50 ${num(ours.p50Us)} µs vs ${num(raw.p50Us)} µs; no caller waits for a ` +
        `connection (${callers} caller${callers > 1 ? "s" : ""}, ${poolSize} connections), so ` +
        `the tail is pauses in the client (collections, event-loop turns) and the server, on a ` +
        `machine ${num(ours.machineCpu)}% busy`,
      close: `Fewer allocations per query (client CPU ${cpu(ours)} per query vs ${
        cpu(raw)
      }), and a quieter machine: p99 over a ${num(r.select.cellMs)} ms cell rests on few samples`,
    };
}
