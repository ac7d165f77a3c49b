/**
 * The metrics handler's routing and arguments: 404 and 405 for what it does
 * not serve, the sources it refuses, and the pool names it labels with.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { metricsHandler } from "../../src/metrics/mod.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { harness } from "../support/pool_helpers.ts";
import { fakeCluster } from "./_metrics_fixtures.ts";

describe("metricsHandler on other requests", () => {
  it("answers 404 for another path and 405 with Allow for another method", async () => {
    const handler = metricsHandler(harness().pool);
    for (const path of ["/metric", "/metrics/", "/metrics.jsonx", "/index.html", "//"]) {
      const response = handler(new Request(`http://localhost${path}`));
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    for (const path of ["/metrics", "/metrics.json"]) {
      for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
        const response = handler(new Request(`http://localhost${path}`, { method }));
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.get("allow"), "GET");
        await response.body?.cancel();
      }
    }
    assert.equal(handler(new Request("http://localhost/metrics?x=1")).status, 200);
  });

  it("refuses a cluster member whose name another pool has", async () => {
    const { cluster, clock } = fakeCluster();
    const twin = new ConnectionPool({ driver: new FakeDriver(), clock, name: "replica-1" });
    assert.throws(
      () => metricsHandler([twin, cluster]),
      new RangeError(
        'Cannot create metrics handler: a replica of sources[1] is named "replica-1" like another pool; give each pool its own name option',
      ),
    );
    await Promise.all([cluster.close(), twin.close()]);
  });

  it("refuses no pools, a non-pool, and two pools of the same name", () => {
    assert.throws(() => metricsHandler([]), RangeError);
    assert.throws(() => metricsHandler({} as ConnectionPool), TypeError);
    assert.throws(
      () => metricsHandler([harness().pool, harness().pool]),
      /Cannot create metrics handler: sources\[1\] is named "default" like another pool/,
    );
  });
});

describe("the pool's name", () => {
  it("is the name option, or default", () => {
    assert.equal(harness().pool.name, "default");
    assert.equal(harness({ name: "orders" }).pool.name, "orders");
  });

  it("must be a non-empty string", () => {
    assert.throws(
      () => harness({ name: "" }),
      (e) => e instanceof RangeError && /name/.test(e.message),
    );
    assert.throws(
      () => harness({ name: 5 as unknown as string }),
      (e) => e instanceof TypeError && /name must be a string, got 5/.test(e.message),
    );
  });
});
