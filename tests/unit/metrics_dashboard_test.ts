/**
 * The dashboard page at `/`: the headers and markup the handler serves, the
 * script the page runs (its percentile estimate, in the module and as
 * shipped), and the fields of `metrics.json` it reads.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { metricsHandler, type MetricsJson } from "../../src/metrics/mod.ts";
import { dashboardHtml } from "../../src/metrics/_dashboard/page.ts";
import {
  type Buckets,
  intervalPercentile,
} from "../../src/metrics/_dashboard/browser/percentile.ts";
import {
  CHARTS,
  record,
  type Sample,
  STATS,
} from "../../src/metrics/_dashboard/browser/samples.ts";
import { harness } from "../support/pool_helpers.ts";
import { knownSequence } from "./_metrics_fixtures.ts";

/** The text of the page's one script. */
function pageScript(html: string): string {
  const script = html.match(/<script[^>]*>([\s\S]*)<\/script>/)?.[1];
  assert.ok(script, "the page has a script");
  return script;
}

/**
 * The estimator as the page ships it: its function cut out of the served
 * script and compiled, so a page bundled from older source fails the tests
 * the module passes.
 */
function shippedEstimator(): typeof intervalPercentile {
  const script = pageScript(dashboardHtml("bm9uY2U="));
  const start = script.indexOf("function intervalPercentile(");
  assert.ok(start >= 0, "the page's script defines intervalPercentile");
  // To the brace that closes its body; it has no brace in a string or comment.
  let end = script.indexOf("{", start);
  let depth = 0;
  do {
    if (script[end] === "{") depth++;
    else if (script[end] === "}") depth--;
    end++;
  } while (depth > 0 && end < script.length);
  assert.equal(depth, 0, "the function's body ends");
  return new Function(`return ${script.slice(start, end)}`)();
}

/** Cumulative buckets at `les` holding per-bucket `counts`. */
function cumulative(les: (number | null)[], counts: number[]): Buckets {
  let total = 0;
  return les.map((le, i) => ({ le, count: total += counts[i] }));
}

const estimators: [string, typeof intervalPercentile][] = [
  ["its module", intervalPercentile],
  ["the served page", shippedEstimator()],
];

for (const [where, estimate] of estimators) {
  describe(`the dashboard's per-poll percentile estimate, in ${where}`, () => {
    const les = [1, 10, 100, null];
    const before = cumulative(les, [1000, 50, 5, 0]);

    it("uses only the acquisitions between two polls, interpolating within a bucket", () => {
      // Between the polls: 2 acquisitions under 1 ms, 8 between 10 and 100 ms.
      const after = cumulative(les, [1002, 50, 13, 0]);
      // p50: rank 5 of 10, the 3rd of the 8 in (10, 100]: 10 + 90 * 3/8.
      assert.deepEqual(estimate(before, after, 0.5), { ms: 10 + 90 * 3 / 8, open: false });
      // p99: rank 9.9, 7.9 of the 8 in (10, 100].
      const p99 = estimate(before, after, 0.99)!;
      assert.equal(p99.open, false);
      assert.ok(Math.abs(p99.ms - (10 + 90 * 7.9 / 8)) < 1e-9, `${p99.ms}`);
      // p10: rank 1 of 10, in the first bucket, which starts at 0.
      assert.deepEqual(estimate(before, after, 0.1), { ms: 0.5, open: false });
    });

    it("returns null when nothing was acquired between the polls", () => {
      assert.equal(estimate(before, before, 0.5), null);
    });

    it("gives the last finite bound, marked open, when the percentile lies beyond it", () => {
      const after = cumulative(les, [1001, 50, 5, 3]);
      assert.deepEqual(estimate(before, after, 0.99), { ms: 100, open: true });
      assert.deepEqual(estimate(before, after, 0.1), { ms: 0.4, open: false });
    });
  });
}

describe("the dashboard's figures and charts", () => {
  it("read only fields that metrics.json serves, and plot a number for every series", async () => {
    // The type check ties the page's script to the JSON's types; this ties it to what is served.
    const h = harness({ name: "a", maxOpenConns: 1 });
    const handler = metricsHandler(h.pool);
    const poll = async () =>
      (await handler(new Request("http://localhost/metrics.json")).json() as MetricsJson)
        .pools[0];
    const samples: Sample[] = [];
    record(samples, await poll(), 0);
    await knownSequence(h);
    const entry = await poll();
    record(samples, entry, 1_000);
    const { values } = samples[1];
    for (const chart of CHARTS) {
      for (const [key] of chart.series) {
        assert.ok(Number.isFinite(values[key]), `${chart.id} plots ${key}: ${values[key]}`);
      }
    }
    for (const [label, , parts] of STATS) {
      for (const [key, read] of parts) {
        assert.ok(Number.isFinite(read(entry.metrics)), `${label} shows ${key}`);
      }
    }
    assert.ok(values.waitAverage > 0, "the sequence's waits were averaged");
    await h.pool.close();
  });
});

/** The CSP header's directives, by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(";").map((part) => part.trim().split(/\s+/)).map((
      [name, ...sources],
    ) => [name, sources]),
  );
}

describe("metricsHandler at /", () => {
  it("serves the dashboard as HTML, never cached, with a strict Content-Security-Policy", async () => {
    const handler = metricsHandler([harness({ name: "a" }).pool, harness({ name: "b" }).pool]);
    const response = handler(new Request("http://localhost/"));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    const policy = directives(response.headers.get("content-security-policy") ?? "");
    const nonce = policy.get("script-src")?.[0].match(/^'nonce-([A-Za-z0-9+/=]{22,})'$/)?.[1];
    assert.ok(nonce, `script-src is one nonce: ${policy.get("script-src")}`);
    assert.deepEqual(Object.fromEntries(policy), {
      "default-src": ["'none'"],
      "script-src": [`'nonce-${nonce}'`],
      "style-src": [`'nonce-${nonce}'`],
      "connect-src": ["'self'"],
      "img-src": ["data:"],
      "base-uri": ["'none'"],
      "form-action": ["'none'"],
      "frame-ancestors": ["'none'"],
    });
    const html = await response.text();
    assert.match(html, /^<!doctype html>/);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((match) => match[1]);
    const styles = [...html.matchAll(/<style\b([^>]*)>/g)].map((match) => match[1]);
    assert.deepEqual(scripts, [` nonce="${nonce}"`], "one inline script, with the nonce");
    assert.deepEqual(styles, [` nonce="${nonce}"`], "one inline style, with the nonce");
    assert.doesNotMatch(html, /\sstyle=/, "no style attribute, which the policy would block");
  });

  it("loads nothing from elsewhere: no external URL, and it polls metrics.json relative to itself", async () => {
    const html = await metricsHandler(harness().pool)(new Request("http://localhost/")).text();
    const urls = new Set(html.match(/https?:\/\/[^\s"'<>)]*/g));
    // The SVG namespace is a name for createElementNS, never fetched.
    assert.deepEqual([...urls], ["http://www.w3.org/2000/svg"], "no http(s) URL but a namespace");
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, "no external src or href");
    assert.doesNotMatch(html, /@import|url\(|\bimport\s*\(|<link rel="stylesheet"/, "no imports");
    for (const [, attribute] of html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)) {
      assert.equal(attribute, "data:,", "the only src/href is the empty favicon");
    }
    assert.match(html, /fetch\("metrics\.json"/, "the poll is relative, so a prefix works");
  });

  it("ships a script that parses", async () => {
    const html = await metricsHandler(harness().pool)(new Request("http://localhost/")).text();
    const script = html.match(/<script[^>]*>([\s\S]*)<\/script>/)?.[1];
    assert.ok(script && script.length > 1_000);
    // Compiles without running: a syntax error throws here rather than in the browser.
    assert.equal(typeof new Function(script), "function");
  });

  it("draws a fresh nonce for each response", async () => {
    const handler = metricsHandler(harness().pool);
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const response = handler(new Request("http://localhost/"));
      nonces.add(response.headers.get("content-security-policy")!.match(/'nonce-([^']+)'/)![1]);
      await response.body?.cancel();
    }
    assert.equal(nonces.size, 5);
  });

  it("answers HEAD with the headers and no body, and another method with 405", async () => {
    const handler = metricsHandler(harness().pool);
    const head = handler(new Request("http://localhost/", { method: "HEAD" }));
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "text/html; charset=utf-8");
    assert.ok(head.headers.get("content-security-policy"));
    assert.equal(head.body, null);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = handler(new Request("http://localhost/", { method }));
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    }
    assert.equal(handler(new Request("http://localhost/?interval=250")).status, 200);
  });
});
