import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  UTILIZATION_SLOT_MS,
  UTILIZATION_SLOTS,
  UtilizationWindow,
} from "../../src/_core/utilization.ts";

describe("UtilizationWindow", () => {
  it("spans ten slots of one second", () => {
    assert.deepEqual([UTILIZATION_SLOTS, UTILIZATION_SLOT_MS], [10, 1_000]);
  });

  it("is 0 while nothing is open", () => {
    const window = new UtilizationWindow(0);
    assert.equal(window.percent(5_000), 0);
    window.update(5_000, 0, 0);
    assert.equal(window.percent(20_000), 0);
  });

  it("weighs each count by the time it held", () => {
    const window = new UtilizationWindow(0);
    window.update(0, 1, 2);
    assert.equal(window.percent(5_000), 50);
    window.update(5_000, 2, 2);
    assert.equal(window.percent(7_500), ((5_000 + 5_000) / 15_000) * 100);
  });

  it("gives the same answer when asked twice at the same time", () => {
    const window = new UtilizationWindow(0);
    window.update(300, 3, 4);
    const first = window.percent(4_321);
    assert.equal(window.percent(4_321), first);
    assert.equal(first, ((4_021 * 3) / (4_021 * 4)) * 100);
  });

  it("drops the oldest slot each time a new one starts", () => {
    const window = new UtilizationWindow(0);
    window.update(0, 1, 1);
    window.update(500, 0, 1);
    assert.equal(window.percent(9_999), (500 / 9_999) * 100);
    assert.equal(window.percent(10_000), 0, "the slot from 0 to 1 s has left");
  });

  it("keeps the current slot's part from before a change", () => {
    const window = new UtilizationWindow(0);
    window.update(0, 0, 1);
    window.update(9_500, 1, 1);
    assert.equal(window.percent(10_000), (500 / 9_000) * 100);
    assert.equal(window.percent(10_500), (1_000 / 9_500) * 100);
  });

  it("fills the whole window from counts that held steady for longer than it", () => {
    const window = new UtilizationWindow(0);
    window.update(0, 1, 4);
    assert.equal(window.percent(10_000), 25);
    assert.equal(window.percent(123_456_789), 25);
    window.update(123_456_789, 4, 4);
    // The window is 123,448 s to 123,457 s: 8.789 s at 1 of 4 in use, then 0.211 s at 4 of 4.
    assert.equal(window.percent(123_457_000), ((8_789 * 1 + 211 * 4) / (9_000 * 4)) * 100);
  });

  it("splits a gap of exactly ten seconds across the window", () => {
    const window = new UtilizationWindow(0);
    window.update(0, 0, 1);
    window.update(500, 1, 1);
    assert.equal(window.percent(10_500), 100);
  });
});
