import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { flush, ManualClock } from "./manual_clock.ts";

describe("ManualClock", () => {
  it("starts at 0, or at the time it is given", () => {
    assert.equal(new ManualClock().now(), 0);
    assert.equal(new ManualClock(1_000).now(), 1_000);
  });

  it("fires a timeout once when it falls due and not before", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 100);
    clock.advance(99);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [100]);
    clock.advance(1_000);
    assert.deepEqual(fired, [100]);
    assert.equal(clock.now(), 1_100);
  });

  it("fires timers in time order, and timers due together in the order they were set", () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`b1@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`b2@${clock.now()}`), 20);
    clock.advance(50);
    assert.deepEqual(fired, ["a@10", "b1@20", "b2@20", "c@30"]);
  });

  it("fires an interval every period until it is cleared", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const handle = clock.setInterval(() => fired.push(clock.now()), 10);
    clock.advance(35);
    assert.deepEqual(fired, [10, 20, 30]);
    clock.clearInterval(handle);
    clock.advance(100);
    assert.deepEqual(fired, [10, 20, 30]);
    assert.equal(clock.pendingTimers, 0);
  });

  it("fires a timer set by a callback within the same advance when it falls due in the span", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 0);
      clock.setTimeout(() => fired.push(clock.now()), 15);
      clock.setTimeout(() => fired.push(clock.now()), 100);
    }, 10);
    clock.advance(30);
    assert.deepEqual(fired, [10, 10, 25]);
    assert.equal(clock.pendingTimers, 1);
  });

  it("does not fire a timer cleared by an earlier callback in the same advance", () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const later = clock.setTimeout(() => fired.push("later"), 20);
    clock.setTimeout(() => clock.clearTimeout(later), 10);
    clock.advance(30);
    assert.deepEqual(fired, []);
  });

  it("counts pending timers and ignores unknown handles when clearing", () => {
    const clock = new ManualClock();
    const a = clock.setTimeout(() => {}, 10);
    clock.setInterval(() => {}, 10);
    assert.equal(clock.pendingTimers, 2);
    clock.clearTimeout(a);
    clock.clearTimeout(a);
    clock.clearTimeout(12345);
    clock.clearInterval(undefined);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(100);
    assert.equal(clock.pendingTimers, 1);
  });

  it("treats a negative delay as 0 and clamps a 0 ms interval to 1 ms", () => {
    const clock = new ManualClock();
    let timeouts = 0;
    let ticks = 0;
    clock.setTimeout(() => timeouts++, -5);
    clock.setInterval(() => ticks++, 0);
    clock.advance(0);
    assert.equal(timeouts, 1);
    assert.equal(ticks, 0);
    clock.advance(3);
    assert.equal(ticks, 3);
  });

  it("rejects a negative advance with a RangeError", () => {
    assert.throws(() => new ManualClock().advance(-1), RangeError);
  });

  it("lets the error of a throwing callback reach the test", () => {
    const clock = new ManualClock();
    clock.setTimeout(() => {
      throw new Error("boom");
    }, 10);
    assert.throws(() => clock.advance(20), /boom/);
    assert.equal(clock.pendingTimers, 0);
  });

  it("runs only the first of several awaited sleeps with advance, and all of them with advanceAsync", async () => {
    const sleep = (clock: ManualClock, ms: number) =>
      new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    const run = async (clock: ManualClock, woke: number[]) => {
      for (let i = 0; i < 3; i++) {
        await sleep(clock, 10);
        woke.push(clock.now());
      }
    };

    const sync = new ManualClock();
    const syncWoke: number[] = [];
    void run(sync, syncWoke);
    sync.advance(30);
    await flush();
    assert.deepEqual(syncWoke, [30]);

    const async = new ManualClock();
    const asyncWoke: number[] = [];
    const done = run(async, asyncWoke);
    await async.advanceAsync(30);
    assert.deepEqual(asyncWoke, [10, 20, 30]);
    await done;
  });

  it("lets flush settle a chain of promise reactions", async () => {
    let settled = false;
    void Promise.resolve().then(() => Promise.resolve()).then(() => Promise.resolve())
      .then(() => settled = true);
    await flush();
    assert.equal(settled, true);
  });
});
