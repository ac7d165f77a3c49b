/**
 * Benchmark B's part of RESULTS.md: how it was measured, and its tables
 * with each cell's median and range over the rounds.
 *
 * @module
 */

import type { QueryKind } from "./_contenders.ts";
import {
  cpuPerQuery,
  num,
  OURS_B,
  OURS_SERIAL,
  pipelines,
  QUERY_TEXT,
  ratio,
  type Results,
  table,
  TITLE,
} from "./_render_common.ts";

type Row = Results["select"]["rows"][number];

/** How B was measured in `r`, as the end of a sentence. */
function method(r: Results): string {
  return r.select.method === "process per contender"
    ? `each contender runs its whole row in a fresh process of its own, ${r.select.rounds} ` +
      `rounds in alternating order (contenders and cells reversed every other round), ` +
      `${num(r.select.cellMs)} ms a cell`
    : "contenders run interleaved in one process, their order rotated each repeat";
}

/** How B was measured in each of `all`, once when the same in all. */
function methods(all: Results[]): string {
  return new Set(all.map(method)).size === 1
    ? method(all[0])
    : all.map((r) => `${TITLE[r.runtime]}: ${method(r)}`).join("; ");
}

/** The sentence of the RESULTS.md introduction on how contenders were run. */
export function methodSentence(all: Results[]): string {
  if (all.every((r) => r.select.method === undefined)) {
    return "Every cell is the median of the repeated runs; contenders run interleaved, their " +
      "order rotated each repeat.";
  }
  return "Every cell is the median of the repeated runs. A's contenders run interleaved in one " +
    `process, their order rotated each repeat; in B, ${methods(all)}, and each cell shows its ` +
    "median and the range (lowest–highest) of its rounds.";
}

/** The lowest and highest of a field over a cell's runs. */
function range(row: Row, key: "opsPerSec" | "p99Us"): string {
  const values = row.runs.map((run) => run[key]);
  return `${num(Math.min(...values))}–${num(Math.max(...values))}`;
}

/** Section B of RESULTS.md. */
export function selectSection(all: Results[]): string[] {
  const out = ["## B. End to end: throughput and latency"];
  const has = (client: string) => all.some((r) => r.select.rows.some((x) => x.client === client));
  const before = all.filter((r) => !pipelines(r)).map((r) => TITLE[r.runtime]);
  out.push(
    "10 connections per client, closed loop, each caller running one statement after another " +
      "for the cell's time; latency from call to result. @x/pool runs on its postgres.js " +
      "driver, once with named prepared statements (`prepare: true`, its default, as in " +
      "postgres.js and Bun.SQL, and pgbench `-M prepared`) and once with unnamed statements" +
      (has("@x/pool (Bun.SQL driver)") ? "; under Bun also on its Bun.SQL driver" : "") +
      (has("@x/pool (pg driver)") ? "; and on its pg (node-postgres) driver" : "") +
      ". pg runs unnamed statements, its default. pgbench uses one connection per client, at " +
      "most 10; its latencies come from its per-transaction log (`-l`), whose clock it reads " +
      "lazily, so they are coarse below 100 µs. “@x/pool ÷” is the throughput of @x/pool " +
      "(prepare: true) over the row's: above 1, we are faster. CPU µs/query: the client " +
      "process's CPU time per statement (its cost of one statement, less sensitive to other " +
      "load than throughput; pgbench's is not measured); machine %: client, server and " +
      "anything else, in percent of all cores.",
  );
  out.push(
    "Pipelining: when every connection is busy and no more may open, @x/pool sends a single " +
      "autocommit statement from `pool.execute` on a connection that already runs one: the " +
      "connection with the fewest in flight, up to `maxPipeline` per connection (10 by " +
      "default), never behind a statement that has run past 10 ms or whose text did last time " +
      "([docs/pipelining.md](../docs/pipelining.md)). So it pipelines at 50 callers, not at 1 " +
      "or 10" +
      (has(OURS_SERIAL)
        ? "; the `@x/pool (maxPipeline: 0)` row (postgres.js driver) shows it without"
        : "") +
      ". postgres.js pipelines statements onto busy connections (`max_pipeline`, up to 100 " +
      "behind the running one by default); its `max_pipeline: 0` row shows it without, each " +
      "connection running one statement at a time. Bun.SQL pipelines as well; pg Pool runs " +
      "one statement per connection at a time." +
      (before.length > 0
        ? ` The ${before.join(" and ")} results predate @x/pool's pipelining (they have no ` +
          "`maxPipeline: 0` row): there its statements always waited for a free connection."
        : ""),
  );
  out.push(
    `${methods(all).replace(/^./, (c) => c.toUpperCase())}. A range is the lowest and ` +
      "highest of a cell's rounds.",
  );
  for (const r of all) {
    for (const query of ["select1", "param"] as QueryKind[]) {
      out.push(`### ${TITLE[r.runtime]}: \`${QUERY_TEXT[query]}\``);
      const rows = r.select.rows.filter((row) => row.query === query);
      out.push(table(
        [
          "callers",
          "client",
          "ops/s",
          "ops/s range",
          "p50 µs",
          "p99 µs",
          "p99 range",
          "@x/pool ÷",
          "CPU µs/query",
          "CPU machine %",
        ],
        rows.map((row) => {
          const ours = rows.find((o) => o.client === OURS_B && o.callers === row.callers)!;
          return [
            String(row.callers),
            row.client,
            num(row.median.opsPerSec),
            range(row, "opsPerSec"),
            num(row.median.p50Us),
            num(row.median.p99Us),
            range(row, "p99Us"),
            ratio(ours.median.opsPerSec / row.median.opsPerSec),
            num(cpuPerQuery(row.median)),
            num(row.median.machineCpu),
          ];
        }),
        [true, false, true, true, true, true, true, true, true, true],
      ));
    }
  }
  const slow = all.filter((r) => r.select.rows.some((row) => row.query === "slow"));
  if (slow.length === 0) return out;
  out.push("### One slow statement in a hundred");
  const slowEvery = slow[0].select.slowEvery ?? 100;
  // The share of the connections' time the sleeps take at @x/pool's throughput.
  const sleepShare = (r: (typeof slow)[number]) => {
    const ours = r.select.rows.find((row) => row.query === "slow" && row.client === OURS_B);
    const share = (ours?.median.opsPerSec ?? NaN) / slowEvery * 0.05 / r.select.poolSize;
    return `${Math.round(share * 100)}% under ${TITLE[r.runtime]}`;
  };
  out.push(
    `\`select 1\` from 50 callers, with one statement in ${slowEvery} a ` +
      "`select pg_sleep(0.05)` instead (pgbench draws them at random, one in as many). " +
      "“p50 select 1” and “p99 select 1” are those of the `select 1`s alone: a statement that " +
      "waits behind a sleeping one on a pipelined connection shows there. @x/pool adds no " +
      "statement behind one that has run past 10 ms, nor behind one whose text did the last " +
      "time it ran, and sends each to the connection with the fewest in flight " +
      "([docs/pipelining.md](../docs/pipelining.md#a-slow-statement-in-the-line)): once it " +
      "has seen the sleep run, no `select 1` joins behind one; they share the connections " +
      "that carry no sleep, and wait in line when those are full. At @x/pool's throughput " +
      `the sleeps take ${slow.map(sleepShare).join(" and ")} of the ${slow[0].select.poolSize} ` +
      "connections' time, so the `select 1`s share the one or two left: a higher p50 and a " +
      "bounded p99. postgres.js queues up to 100 behind the running statement by default, " +
      "and Bun.SQL pipelines as well. Without pipelining (the `maxPipeline: 0` and " +
      "`max_pipeline: 0` rows, and pg Pool), a `select 1` waits only for the next free " +
      "connection. (pgbench's log does not say which statement ran; its `select 1`s are taken " +
      "to be those under 50 ms.)",
  );
  for (const r of slow) {
    out.push(`#### ${TITLE[r.runtime]}`);
    out.push(table(
      [
        "client",
        "ops/s",
        "ops/s range",
        "p50 µs",
        "p99 µs",
        "p99 range",
        "p50 select 1 µs",
        "p99 select 1 µs",
        "CPU µs/query",
      ],
      r.select.rows.filter((row) => row.query === "slow").map((row) => [
        row.client,
        num(row.median.opsPerSec),
        range(row, "opsPerSec"),
        num(row.median.p50Us),
        num(row.median.p99Us),
        range(row, "p99Us"),
        num(row.median.fastP50Us ?? NaN),
        num(row.median.fastP99Us ?? NaN),
        num(cpuPerQuery(row.median)),
      ]),
      [false, true, true, true, true, true, true, true, true],
    ));
  }
  return out;
}
