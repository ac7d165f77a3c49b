/**
 * Shared set-up for the pool's unit tests: a pool on a fake driver and a
 * manual clock, a way to watch a promise without awaiting it, and the
 * metrics invariant.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import type { PoolErrorEvent } from "../../src/errors.ts";
import type { PoolConnection } from "../../src/connection.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { type FakeConnection, FakeDriver } from "./fake_driver.ts";
import { flush, ManualClock } from "./manual_clock.ts";

/** A pool with its fake driver, its manual clock, and what it told `onError`. */
export interface Harness {
  pool: ConnectionPool;
  driver: FakeDriver;
  clock: ManualClock;
  /** Every `onError` call, in order. */
  errors: [unknown, PoolErrorEvent][];
}

/**
 * A pool on a {@linkcode FakeDriver} and a {@linkcode ManualClock} at 0.
 * Health checks, validation, the lifetime and the idle-time limit are off unless
 * `options` turn them on, so only the timers a test asks for exist.
 */
export function harness(options: Partial<PoolOptions> = {}): Harness {
  const driver = new FakeDriver();
  const clock = new ManualClock();
  const errors: [unknown, PoolErrorEvent][] = [];
  const pool = new ConnectionPool({
    driver,
    clock,
    healthInterval: 0,
    connMaxLifetime: 0,
    connMaxIdleTime: 0,
    validateAfterIdle: 0,
    onError: (error, event) => errors.push([error, event]),
    ...options,
  });
  return { pool, driver, clock, errors };
}

/** A promise's outcome so far, updated as it settles. */
export interface Observed<T> {
  status: "pending" | "fulfilled" | "rejected";
  value: T | undefined;
  reason: unknown;
}

/**
 * Watches `promise` without awaiting it; a rejection counts as handled, so a
 * test can advance time before it looks.
 */
export function observe<T>(promise: Promise<T>): Observed<T> {
  const observed: Observed<T> = { status: "pending", value: undefined, reason: undefined };
  promise.then(
    (value) => {
      observed.status = "fulfilled";
      observed.value = value;
    },
    (reason) => {
      observed.status = "rejected";
      observed.reason = reason;
    },
  );
  return observed;
}

let tags = 0;

/** Which fake connection is behind a lent connection: runs a tagged statement and looks. */
export async function fakeOf(
  driver: FakeDriver,
  connection: PoolConnection,
): Promise<FakeConnection> {
  const tag = `select 'tag ${++tags}'`;
  await connection.execute(tag);
  const found = driver.connections.filter((fake) => fake.queries.includes(tag));
  assert.equal(found.length, 1, "the tagged statement ran on exactly one connection");
  return found[0];
}

/**
 * Asserts that `openConnections` is `inUse + idle + connecting + checking`,
 * at most `maxOpenConnections`, and that every established connection is a
 * live fake one, with no live fake one unaccounted for.
 */
export function assertConsistent(pool: ConnectionPool, driver?: FakeDriver): void {
  const m = pool.getMetrics();
  assert.equal(m.openConnections, m.inUse + m.idle + m.connecting + m.checking, "open = sum");
  assert.ok(
    m.openConnections <= m.maxOpenConnections,
    `${m.openConnections} open, more than ${m.maxOpenConnections}`,
  );
  if (driver !== undefined) {
    // A connect in flight may already have opened its fake connection.
    const established = m.openConnections - m.connecting;
    assert.ok(
      driver.live >= established && driver.live <= m.openConnections,
      `pool and driver agree: ${driver.live} fake connections live, ${established} established, ` +
        `${m.connecting} connecting`,
    );
  }
}

/**
 * On a pool of one connection (as the metrics tests use it): an acquire from
 * an empty pool, one from the idle set, one that waits 20 ms, and one that
 * times out after 100 ms. Returns the connection the waiter got, still held.
 */
export async function waitThenTimeOut(h: Harness): Promise<PoolConnection> {
  const first = await h.pool.getConnection();
  first.release();
  const second = await h.pool.getConnection();
  const waiter = observe(h.pool.getConnection());
  await h.clock.advanceAsync(20);
  second.release();
  await flush();
  assert.equal(waiter.status, "fulfilled");
  const timedOut = observe(h.pool.getConnection({ timeout: 100 }));
  await h.clock.advanceAsync(100);
  assert.equal(timedOut.status, "rejected");
  return waiter.value!;
}
