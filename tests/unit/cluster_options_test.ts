/**
 * The cluster's options: what it refuses, and how its errors name them.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ClusterOptions, ClusterPool } from "../../src/cluster/mod.ts";
import { ManualClock } from "../support/manual_clock.ts";
import { member, setUp } from "../support/cluster_helpers.ts";

describe("ClusterPool options", () => {
  const clock = new ManualClock();
  const pools = () => ({
    primary: member("p", clock).pool,
    replicas: [member("r", clock).pool],
  });
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ["no options", undefined, TypeError, /options must be an object, got undefined/],
    ["an unknown option", { ...pools(), maxLag: 1 }, TypeError, /unknown option "maxLag"/],
    ["no primary", { replicas: [] }, TypeError, /primary must be a ConnectionPool, got undefined/],
    [
      "replicas not an array",
      { primary: pools().primary, replicas: "r" },
      TypeError,
      /replicas must be an array of ConnectionPool, got "r"/,
    ],
    [
      "a replica not a pool",
      { primary: pools().primary, replicas: [{}] },
      TypeError,
      /replicas\[0\] must be a ConnectionPool, got an object/,
    ],
    [
      "a negative lag",
      { ...pools(), maxReplicationLag: -1 },
      RangeError,
      /maxReplicationLag must be from 0 to \d+ milliseconds, got -1/,
    ],
    [
      "a lag of the wrong type",
      { ...pools(), maxReplicationLag: "5s" },
      TypeError,
      /maxReplicationLag must be a number of milliseconds, got "5s"/,
    ],
    [
      "NaN healthInterval",
      { ...pools(), healthInterval: NaN },
      RangeError,
      /healthInterval .* got NaN/,
    ],
    [
      "probeTimeout 0",
      { ...pools(), probeTimeout: 0 },
      RangeError,
      /probeTimeout must be at least 1 millisecond.*got 0/,
    ],
    [
      "readYourWritesWindow Infinity",
      { ...pools(), readYourWritesWindow: Infinity },
      RangeError,
      /readYourWritesWindow .* got Infinity/,
    ],
    [
      "an unknown readFallback",
      { ...pools(), readFallback: "replica" },
      RangeError,
      /readFallback must be "primary" or "fail", got "replica"/,
    ],
    [
      "onError not a function",
      { ...pools(), onError: 1 },
      TypeError,
      /onError must be a function, got 1/,
    ],
    [
      "a clock without timers",
      { ...pools(), clock: { now: () => 0 } },
      TypeError,
      /clock must implement Clock/,
    ],
  ];
  for (const [what, options, type, message] of cases) {
    it(`refuses ${what}`, () => {
      assert.throws(() => new ClusterPool(options as ClusterOptions), (error) => {
        assert.ok(error instanceof type, `${error}`);
        assert.match((error as Error).message, /^Cannot create cluster: /);
        assert.match((error as Error).message, message);
        return true;
      });
    });
  }

  it("refuses a pool or a pool name used twice", () => {
    const primary = member("same", clock).pool;
    assert.throws(
      () => new ClusterPool({ primary, replicas: [primary] }),
      (error) =>
        error instanceof RangeError &&
        /replicas\[0\] is a pool already in the cluster/.test(error.message),
    );
    assert.throws(
      () => new ClusterPool({ primary, replicas: [member("same", clock).pool] }),
      (error) =>
        error instanceof RangeError &&
        /replicas\[0\] is named "same" like another member; give each pool its own name option/
          .test(error.message),
    );
  });

  it("refuses a transaction without a function", async () => {
    const { cluster } = setUp({}, 1);
    await assert.rejects(
      cluster.transaction(undefined as unknown as () => void, { readOnly: true }),
      /Cannot run transaction: fn must be a function, got undefined/,
    );
    await cluster.close();
  });
});
