import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PoolOptions } from "../../src/config.ts";
import { MAX_TIMER_MS, resolvePoolOptions } from "../../src/_core/options.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { AcquireTimeoutError } from "../../src/errors.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush, ManualClock } from "../support/manual_clock.ts";
import { harness, observe } from "../support/pool_helpers.ts";

const DURATIONS = [
  "connMaxLifetime",
  "connMaxIdleTime",
  "healthInterval",
  "acquireTimeout",
  "connectTimeout",
  "checkTimeout",
  "validateAfterIdle",
  "closeTimeout",
] as const;

/** A bad value, the error it must raise, and how the message must show it. */
type Case = [value: unknown, error: typeof TypeError | typeof RangeError, shown: string];

const BAD_SIZES: Case[] = [
  [-1, RangeError, "-1"],
  [1.5, RangeError, "1.5"],
  [NaN, RangeError, "NaN"],
  [Infinity, RangeError, "Infinity"],
  [-Infinity, RangeError, "-Infinity"],
  [2 ** 53, RangeError, "9007199254740992"],
  ["10", TypeError, '"10"'],
  [null, TypeError, "null"],
  [true, TypeError, "true"],
  [10n, TypeError, "10"],
  [{}, TypeError, "an object"],
];

const BAD_DURATIONS: Case[] = [
  [-1, RangeError, "-1"],
  [-0.5, RangeError, "-0.5"],
  [NaN, RangeError, "NaN"],
  [Infinity, RangeError, "Infinity"],
  [MAX_TIMER_MS + 1, RangeError, "2147483648"],
  [1e12, RangeError, "1000000000000"],
  ["1000", TypeError, '"1000"'],
  [null, TypeError, "null"],
  [false, TypeError, "false"],
  [[1000], TypeError, "an array"],
];

const driver = new FakeDriver();

function create(options: Record<string, unknown>): ConnectionPool {
  return new ConnectionPool({ driver, clock: new ManualClock(), ...options } as PoolOptions);
}

function assertRefused(
  options: Record<string, unknown>,
  error: typeof TypeError | typeof RangeError,
  ...shown: string[]
): void {
  assert.throws(() => create(options), (thrown: unknown) => {
    assert.ok(thrown instanceof error, `${thrown} is not a ${error.name}`);
    assert.ok(thrown.message.startsWith("Cannot create pool: "), thrown.message);
    for (const part of shown) {
      assert.ok(thrown.message.includes(part), `"${thrown.message}" lacks ${part}`);
    }
    return true;
  });
}

describe("pool options", () => {
  it("defaults maxIdleConns to maxOpenConns", () => {
    assert.equal(resolvePoolOptions({ driver, maxOpenConns: 3 }).maxIdleConns, 3);
    assert.equal(resolvePoolOptions({ driver, maxOpenConns: 3, maxIdleConns: 0 }).maxIdleConns, 0);
  });

  it("keeps every value given within range, including 0 and the largest timer delay", () => {
    const onError = () => {};
    const clock = new ManualClock();
    const resolved = resolvePoolOptions({
      driver,
      name: "orders",
      maxOpenConns: 1,
      maxIdleConns: 1,
      minIdleConns: 1,
      connMaxLifetime: 0,
      connMaxIdleTime: MAX_TIMER_MS,
      healthInterval: 0,
      acquireTimeout: 1.5,
      connectTimeout: MAX_TIMER_MS,
      checkTimeout: 0,
      validateAfterIdle: 0,
      closeTimeout: 0,
      leakDetectionThreshold: MAX_TIMER_MS,
      connMaxLifetimeJitter: 0,
      maxWaiting: 0,
      maxConnecting: 1,
      maxPipeline: 0,
      breakerThreshold: 0,
      resetOnReadOnly: true,
      resetSession: true,
      onError,
      clock,
    });
    assert.deepEqual(resolved, {
      driver,
      name: "orders",
      maxOpenConns: 1,
      maxIdleConns: 1,
      minIdleConns: 1,
      connMaxLifetime: 0,
      connMaxIdleTime: MAX_TIMER_MS,
      healthInterval: 0,
      acquireTimeout: 1.5,
      connectTimeout: MAX_TIMER_MS,
      checkTimeout: 0,
      validateAfterIdle: 0,
      closeTimeout: 0,
      leakDetectionThreshold: MAX_TIMER_MS,
      connMaxLifetimeJitter: 0,
      maxWaiting: 0,
      maxConnecting: 1,
      maxPipeline: 0,
      breakerThreshold: 0,
      resetOnReadOnly: true,
      resetSession: true,
      onError,
      clock,
    });
    assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
  });

  it("reports maxOpenConnections from the options, 10 by default", () => {
    assert.equal(create({}).getMetrics().maxOpenConnections, 10);
    assert.equal(create({ maxOpenConns: 4 }).getMetrics().maxOpenConnections, 4);
  });

  for (const name of ["maxOpenConns", "maxIdleConns"]) {
    for (const [value, error, shown] of BAD_SIZES) {
      it(`refuses ${name} of ${shown} with a ${error.name} naming both`, () => {
        assertRefused({ [name]: value }, error, name, `got ${shown}`);
      });
    }
  }

  it("refuses maxOpenConns of 0 with a RangeError naming it", () => {
    assertRefused({ maxOpenConns: 0 }, RangeError, "maxOpenConns", "at least 1", "got 0");
  });

  it("accepts maxIdleConns of 0", () => {
    assert.equal(create({ maxIdleConns: 0 }).getMetrics().idle, 0);
  });

  it("refuses maxIdleConns above maxOpenConns with a RangeError showing both values", () => {
    assert.throws(
      () => create({ maxOpenConns: 10, maxIdleConns: 12 }),
      new RangeError("Cannot create pool: maxIdleConns (12) exceeds maxOpenConns (10)"),
    );
  });

  it("refuses maxIdleConns above the default maxOpenConns", () => {
    assertRefused({ maxIdleConns: 11 }, RangeError, "maxIdleConns (11)", "maxOpenConns (10)");
  });

  it("defaults minIdleConns to 0 and breakerThreshold to 5", () => {
    const resolved = resolvePoolOptions({ driver });
    assert.equal(resolved.minIdleConns, 0);
    assert.equal(resolved.breakerThreshold, 5);
  });

  it("refuses minIdleConns above maxIdleConns with a RangeError showing both values", () => {
    assert.throws(
      () => create({ maxOpenConns: 10, maxIdleConns: 4, minIdleConns: 5 }),
      new RangeError("Cannot create pool: minIdleConns (5) exceeds maxIdleConns (4)"),
    );
  });

  it("refuses minIdleConns above the default maxIdleConns, which is maxOpenConns", () => {
    assertRefused({ maxOpenConns: 3, minIdleConns: 4 }, RangeError, "minIdleConns (4)", "(3)");
  });

  for (const name of ["minIdleConns", "breakerThreshold"]) {
    for (const [value, error, shown] of BAD_SIZES) {
      it(`refuses ${name} of ${shown} with a ${error.name} naming both`, () => {
        assertRefused({ [name]: value }, error, name, `got ${shown}`);
      });
    }
  }

  for (const name of DURATIONS) {
    for (const [value, error, shown] of BAD_DURATIONS) {
      it(`refuses ${name} of ${shown} with a ${error.name} naming both`, () => {
        assertRefused({ [name]: value }, error, name, `got ${shown}`);
      });
    }
  }

  it("refuses a timer value above 2^31-1 ms, which runtimes would fire at once", () => {
    assertRefused(
      { acquireTimeout: 2 ** 31 },
      RangeError,
      "acquireTimeout must be from 0 to 2147483647 milliseconds, got 2147483648",
    );
  });

  it("refuses a missing driver with a TypeError naming it", () => {
    assert.throws(
      () => new ConnectionPool({} as PoolOptions),
      new TypeError("Cannot create pool: driver must have a connect() method, got undefined"),
    );
  });

  for (
    const [value, shown] of [
      [null, "null"],
      [{}, "an object"],
      ["postgres://localhost", '"postgres://localhost"'],
      [{ connect: 1 }, "an object"],
    ] as const
  ) {
    it(`refuses a driver of ${shown} with a TypeError naming it`, () => {
      assertRefused({ driver: value }, TypeError, "driver", `got ${shown}`);
    });
  }

  it("refuses an unknown option with a TypeError naming it", () => {
    assertRefused({ maxConns: 5 }, TypeError, 'unknown option "maxConns"');
    assertRefused({ max: undefined }, TypeError, 'unknown option "max"');
  });

  for (const [value, shown] of [[undefined, "undefined"], [null, "null"], ["x", '"x"'], [5, "5"]]) {
    it(`refuses options of ${shown} with a TypeError`, () => {
      assert.throws(
        () => new ConnectionPool(value as unknown as PoolOptions),
        new TypeError(`Cannot create pool: options must be an object, got ${shown}`),
      );
    });
  }

  it("refuses an onError that is not a function with a TypeError naming it", () => {
    assertRefused({ onError: "log" }, TypeError, "onError", 'got "log"');
    assertRefused({ onError: null }, TypeError, "onError", "got null");
  });

  it("refuses a clock that is not a Clock with a TypeError naming it", () => {
    assertRefused({ clock: null }, TypeError, "clock", "got null");
    assertRefused({ clock: Date }, TypeError, "clock", "got a function");
  });

  it("refuses a clock that lacks a timer method with a TypeError naming it", () => {
    const complete = {
      now: () => 0,
      setTimeout: () => 0,
      clearTimeout: () => {},
      setInterval: () => 0,
      clearInterval: () => {},
    };
    assert.equal(create({ clock: complete }).getMetrics().openConnections, 0);
    for (const missing of Object.keys(complete)) {
      const clock = { ...complete, [missing]: undefined };
      assertRefused({ clock }, TypeError, "clock must implement Clock");
    }
  });

  it("starts no timer and opens no connection when it refuses options", () => {
    const clock = new ManualClock();
    const counting = new FakeDriver();
    assert.throws(() =>
      new ConnectionPool({ driver: counting, clock, healthInterval: 1_000, maxIdleConns: -1 })
    );
    assert.equal(clock.pendingTimers, 0);
    assert.equal(counting.connects, 0);
  });
});

describe("getConnection options", () => {
  for (const [value, error, shown] of BAD_DURATIONS) {
    it(`refuses a timeout of ${shown} with a ${error.name} naming it, and does not wait`, async () => {
      const { pool, driver } = harness();
      await assert.rejects(pool.getConnection({ timeout: value as number }), (thrown: unknown) => {
        assert.ok(thrown instanceof error);
        assert.ok(
          thrown.message.startsWith("Cannot get a connection: timeout must be"),
          thrown.message,
        );
        assert.ok(thrown.message.endsWith(`got ${shown}`), thrown.message);
        return true;
      });
      assert.equal(pool.getMetrics().waitCount, 0);
      assert.equal(driver.connects, 0);
    });
  }

  for (const [value, shown] of [[{}, "object"], ["abort", "string"], [null, "object"]] as const) {
    it(`refuses a signal of ${JSON.stringify(value)} with a TypeError, and does not wait`, async () => {
      const { pool, driver } = harness({ maxOpenConns: 1, acquireTimeout: 0 });
      const held = await pool.getConnection();
      await assert.rejects(
        pool.getConnection({ signal: value as unknown as AbortSignal }),
        new TypeError(`Cannot get a connection: signal must be an AbortSignal, got ${shown}`),
      );
      assert.equal(pool.getMetrics().waiting, 0);
      const next = observe(pool.getConnection());
      held.release();
      await flush();
      assert.equal(next.status, "fulfilled", "the refused call left nothing in the queue");
      assert.equal(driver.connects, 1);
    });
  }

  it("takes the acquire timeout from acquireTimeout when no timeout is given", async () => {
    const { pool, clock } = harness({ acquireTimeout: 250, maxOpenConns: 1 });
    const held = await pool.getConnection();
    const waiting = observe(pool.getConnection({}));
    clock.advance(249);
    await clock.advanceAsync(0);
    assert.equal(waiting.status, "pending");
    await clock.advanceAsync(1);
    assert.ok(waiting.reason instanceof AcquireTimeoutError);
    assert.equal(waiting.reason.timeout, 250);
    held.release();
  });
});
