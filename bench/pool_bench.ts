/**
 * The core's micro-benchmarks for `deno bench`, on the fake driver (no I/O).
 * Each iteration runs 1,000 operations, so µs/iter reads as ns per operation.
 *
 *     deno task bench:micro
 *
 * @module
 */

import { ConnectionPool } from "../src/pool.ts";
import { FakeDriver } from "../tests/support/fake_driver.ts";

const OPS = 1_000;

async function openPool(size: number): Promise<ConnectionPool> {
  const pool = new ConnectionPool({ driver: new FakeDriver(), maxOpenConns: size });
  const held = await Promise.all(Array.from({ length: size }, () => pool.getConnection()));
  for (const connection of held) connection.release();
  return pool;
}

const single = await openPool(10);
const shared = await openPool(10);

Deno.bench({
  name: "bare await (floor)",
  group: "1 caller",
  baseline: true,
  async fn() {
    for (let i = 0; i < OPS; i++) await null;
  },
});

Deno.bench({
  name: "getConnection + release",
  group: "1 caller",
  async fn() {
    for (let i = 0; i < OPS; i++) {
      const connection = await single.getConnection();
      connection.release();
    }
  },
});

async function callers(count: number, work: () => Promise<void>): Promise<void> {
  let left = OPS;
  const caller = async () => {
    while (left-- > 0) await work();
  };
  await Promise.all(Array.from({ length: count }, caller));
}

Deno.bench({
  name: "bare await (floor)",
  group: "50 callers",
  baseline: true,
  async fn() {
    await callers(50, async () => {
      await null;
    });
  },
});

Deno.bench({
  name: "getConnection + release, 10 connections (hand-off)",
  group: "50 callers",
  async fn() {
    await callers(50, async () => {
      const connection = await shared.getConnection();
      connection.release();
    });
  },
});

Deno.bench({
  name: "getMetrics() ×1,000",
  group: "metrics",
  fn() {
    for (let i = 0; i < OPS; i++) single.getMetrics();
  },
});

Deno.bench({
  name: "getUtilization() ×1,000",
  group: "metrics",
  fn() {
    for (let i = 0; i < OPS; i++) single.getUtilization();
  },
});
