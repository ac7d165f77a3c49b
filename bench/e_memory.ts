/**
 * E. Memory, with the fake driver: heap growth over many acquire/release
 * cycles (after a forced GC), bytes allocated per cycle, and the pool's
 * bookkeeping per idle connection.
 *
 * @module
 */

import { ConnectionPool } from "../src/pool.ts";
import { FakeDriver } from "../tests/support/fake_driver.ts";
import { gc, heapCountsAllocations, heapUsed, smoke } from "./_runtime.ts";
import { median } from "./_stats.ts";

/**
 * Bytes allocated per call of `fn`: heap growth over short bursts between
 * forced GCs, median of 15. NaN where the heap size cannot show it.
 */
async function bytesPerCall(fn: () => Promise<void>, calls = 1_000): Promise<number> {
  if (!heapCountsAllocations) return NaN;
  const samples: number[] = [];
  for (let trial = 0; trial < 15; trial++) {
    gc();
    const before = heapUsed();
    for (let i = 0; i < calls; i++) await fn();
    samples.push((heapUsed() - before) / calls);
  }
  return median(samples);
}

/** Runs benchmark E once. */
export async function benchMemory() {
  const cycles = smoke ? 100_000 : 1_000_000;
  const pool = new ConnectionPool({ driver: new FakeDriver(), maxOpenConns: 10 });
  const cycle = async () => {
    const connection = await pool.getConnection();
    connection.release();
  };
  const floor = async () => {
    await null;
  };
  try {
    const held = await Promise.all(Array.from({ length: 10 }, () => pool.getConnection()));
    for (const connection of held) connection.release();
    for (let i = 0; i < 20_000; i++) await cycle(); // Warms the JIT up before the first reading.

    gc();
    const before = heapUsed();
    for (let i = 0; i < cycles; i++) await cycle();
    gc();
    const after = heapUsed();

    const bytesPerCycle = await bytesPerCall(cycle);
    const floorBytes = await bytesPerCall(floor);

    return {
      cycles,
      heapBefore: before,
      heapAfter: after,
      heapGrowth: after - before,
      bytesPerCycle,
      floorBytesPerCall: floorBytes,
      ...(await idleBookkeeping(1_000)),
    };
  } finally {
    await pool.close();
  }
}

/**
 * The heap a pool adds per idle connection, beyond the driver's connection
 * itself: a pool holding `n` idle fake connections, less an empty pool, less
 * `n` fake connections held alone.
 */
async function idleBookkeeping(n: number) {
  const signal = new AbortController().signal;
  gc();
  const start = heapUsed();
  const driver = new FakeDriver();
  const bare = [];
  for (let i = 0; i < n; i++) bare.push(await driver.connect(signal));
  gc();
  const connectionBytes = (heapUsed() - start) / n;
  bare.length = 0;
  driver.connections.length = 0;

  const pool = new ConnectionPool({ driver: new FakeDriver(), maxOpenConns: n });
  try {
    gc();
    const empty = heapUsed();
    const held = await Promise.all(Array.from({ length: n }, () => pool.getConnection()));
    for (const connection of held) connection.release();
    held.length = 0;
    gc();
    const full = heapUsed();
    if (pool.getMetrics().idle !== n) throw new Error(`Bug: expected ${n} idle connections`);
    return {
      idleConnections: n,
      fakeConnectionBytes: connectionBytes,
      bytesPerIdleConnection: (full - empty) / n - connectionBytes,
    };
  } finally {
    await pool.close();
  }
}
