/**
 * One process of benchmark B: opens one contender, warms it, measures the
 * cells it is given in that order, and prints their results as one line of
 * JSON on stdout. Started by `b_select.ts` with its job in `BENCH_CHILD`
 * (JSON, see {@linkcode ChildJob}); not meant to be run by hand.
 *
 * @module
 */

import process from "node:process";
import {
  type Cell,
  type Client,
  CONTENDERS,
  POOL_SIZE,
  type SelectRun,
  SLOW_EVERY,
} from "./_contenders.ts";
import { load } from "./_load.ts";
import { gc, now, runtime } from "./_runtime.ts";
import { quantile, sorted } from "./_stats.ts";

/** What the parent asks of one process. */
export interface ChildJob {
  contender: string;
  url: string;
  cells: Cell[];
  cellMs: number;
  /** Load at 50 callers per statement before the first cell: opens every connection. */
  warmMs: number;
  /** The parent kills this process after this long; it ends itself then too, should the parent be gone. */
  limitMs: number;
}

/** Runs one cell: a closed loop for `ms`, and the client CPU per statement. */
async function measure(client: Client, cell: Cell, ms: number): Promise<SelectRun> {
  // The garbage of the warm-up or of the cell before is not this cell's.
  gc();
  let result: SelectRun;
  if (cell.query === "slow") {
    // Every SLOW_EVERY-th statement started sleeps; the `select 1`s are timed alone too, to
    // show those that waited behind a sleeping one.
    const fast: number[] = [];
    let started = 0;
    const mixed = async () => {
      if (started++ % SLOW_EVERY === 0) return client.run.sleep();
      const t0 = now();
      await client.run.select1();
      fast.push(now() - t0);
    };
    const run = await load(mixed, cell.callers, ms);
    const ascending = sorted(fast);
    result = {
      ...run,
      cpuUsPerQuery: NaN,
      fastP50Us: quantile(ascending, 0.5) / 1e3,
      fastP99Us: quantile(ascending, 0.99) / 1e3,
    };
  } else {
    result = { ...await load(client.run[cell.query], cell.callers, ms), cpuUsPerQuery: NaN };
  }
  // processCpu is in percent of one core: CPU seconds per second, over statements per second.
  result.cpuUsPerQuery = (result.processCpu / 100) * 1e6 / result.opsPerSec;
  return result;
}

const job = JSON.parse(process.env.BENCH_CHILD ?? "null") as ChildJob | null;
if (!job) throw new Error("BENCH_CHILD is not set: this file is started by bench/b_select.ts");
setTimeout(() => {
  console.error(`${job.contender}: overran ${job.limitMs} ms`);
  process.exit(3);
}, job.limitMs);
const contender = CONTENDERS.find((c) => c.name === job.contender);
if (!contender?.open) {
  throw new Error(`BENCH_CHILD: no contender ${JSON.stringify(job.contender)} under ${runtime}`);
}
const client = contender.open(job.url);
const runs: SelectRun[] = [];
try {
  // Opens all connections and warms the JIT on every statement; not measured.
  await load(client.run.select1, 50, job.warmMs);
  await load(client.run.param, 50, job.warmMs);
  await Promise.all(Array.from({ length: POOL_SIZE }, () => client.run.sleep()));
  for (const cell of job.cells) runs.push(await measure(client, cell, job.cellMs));
} finally {
  await client.close();
}
process.stdout.write(JSON.stringify(runs) + "\n");
// postgres.js and pg may leave a socket closing in the background; nothing is left to wait for.
process.exit(0);
