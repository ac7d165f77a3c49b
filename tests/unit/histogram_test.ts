import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LatencyHistogram } from "../../src/_core/histogram.ts";

const RESOLUTION = 2 ** 0.25;

describe("LatencyHistogram", () => {
  it("reports 0 for every percentile when empty", () => {
    const histogram = new LatencyHistogram();
    assert.equal(histogram.count, 0);
    assert.deepEqual([0, 0.5, 0.99, 1].map((f) => histogram.percentile(f)), [0, 0, 0, 0]);
  });

  it("reports a single sample exactly at every percentile", () => {
    for (const value of [0.5, 1, 7, 123.4, 30_000]) {
      const histogram = new LatencyHistogram();
      histogram.record(value);
      assert.equal(histogram.percentile(0.5), value);
      assert.equal(histogram.percentile(0.99), value);
    }
  });

  it("counts 0, values under 1 µs, negatives and NaN as 0", () => {
    const histogram = new LatencyHistogram();
    for (const value of [0, 0.0001, -5, NaN]) histogram.record(value);
    histogram.record(50);
    assert.equal(histogram.count, 5);
    assert.equal(histogram.percentile(0.5), 0);
    assert.equal(histogram.percentile(0.8), 0);
    assert.equal(histogram.percentile(0.99), 50);
  });

  it("reports each percentile within a fourth of a doubling above the true one", () => {
    let seed = 11;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const histogram = new LatencyHistogram();
    const samples: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      const value = 0.01 * 2 ** (next() * 20);
      samples.push(value);
      histogram.record(value);
    }
    samples.sort((a, b) => a - b);
    for (const fraction of [0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1]) {
      const truth = samples[Math.ceil(fraction * samples.length) - 1];
      const reported = histogram.percentile(fraction);
      assert.ok(
        reported >= truth && reported <= truth * RESOLUTION,
        `${fraction}: ${reported} vs ${truth}`,
      );
    }
  });

  it("reports values beyond its range as the largest sample", () => {
    const histogram = new LatencyHistogram();
    histogram.record(1);
    histogram.record(1e9);
    histogram.record(2e9);
    assert.equal(histogram.percentile(0.99), 2e9);
    assert.equal(histogram.percentile(0.6), 2e9);
    const low = histogram.percentile(0.3);
    assert.ok(low >= 1 && low <= RESOLUTION, `${low}`);
  });
});
