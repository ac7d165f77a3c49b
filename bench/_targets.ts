/**
 * The targets of the benchmarks (the project's issue 11 for A and B),
 * checked against one runtime's results. In B, ours is the fastest of
 * @x/pool's rows on a real driver with default options, per cell.
 *
 * @module
 */

import type { QueryKind } from "./_contenders.ts";
import { bestOurs, FLOOR, num, OURS_A, QUERY_TEXT, ratio, type Results } from "./_render_common.ts";

/** One target and how it fared. */
export interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
  /**
   * B's targets: the cell, and the client ours is compared with; `share`,
   * the part of its throughput ours must reach (absent for a p99 target).
   */
  select?: { query: QueryKind; callers: number; versus: string; share?: number };
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
    )?.median;
  for (const query of ["select1", "param"] as QueryKind[]) {
    for (const callers of [1, 10, 50]) {
      const best = bestOurs(r, query, callers)!;
      const ours = best.row.median;
      const where = `\`${QUERY_TEXT[query]}\`, ${callers} caller${callers > 1 ? "s" : ""}`;
      const versus = (client: string, share: number) => {
        const theirs = b(client, query, callers);
        out.push({
          target: `B: ≥ ${share * 100}% of ${client} throughput, ${where}`,
          measured: theirs
            ? `${num((ours.opsPerSec / theirs.opsPerSec) * 100)}% (${best.driver})`
            : "–",
          met: theirs ? ours.opsPerSec >= share * theirs.opsPerSec : undefined,
          select: { query, callers, versus: client, share },
        });
      };
      versus("postgres.js", 1);
      versus("pg Pool", 1);
      if (r.runtime === "bun" && query === "select1" && callers === 50) versus("Bun.SQL", 0.9);
      const raw = b("postgres.js", query, callers)!;
      out.push({
        target: `B: p99 ≤ postgres.js p99, ${where}`,
        measured: `${num(ours.p99Us)} µs vs ${num(raw.p99Us)} µs (${best.driver})`,
        met: ours.p99Us <= raw.p99Us,
        select: { query, callers, versus: "postgres.js" },
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
