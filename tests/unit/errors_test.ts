/**
 * The pool's error codes are a closed, documented set: the `PoolErrorCode`
 * union, the list in its doc comment, and the codes the error classes carry
 * agree.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as errors from "../../src/errors.ts";
import * as clusterErrors from "../../src/cluster/errors.ts";

const source = await readFile(new URL("../../src/pool_error.ts", import.meta.url), "utf8");

function unionMembers(name: string): string[] {
  const body = source.slice(source.indexOf(`export type ${name} =`));
  return [...body.slice(0, body.indexOf(";")).matchAll(/\| "([A-Za-z_]+)"/g)].map((m) => m[1]);
}

function documented(name: string): string[] {
  const end = source.indexOf(`export type ${name} =`);
  const doc = source.slice(source.lastIndexOf("/**", end), end);
  return [...doc.matchAll(/^ \* - `"([A-Za-z_]+)"`/gm)].map((m) => m[1]);
}

describe("the error codes", () => {
  it("documents every member of PoolErrorCode, once, in its doc comment", () => {
    const codes = unionMembers("PoolErrorCode");
    assert.ok(codes.length >= 18, `found ${codes.length} codes`);
    assert.deepEqual(documented("PoolErrorCode").sort(), [...codes].sort());
  });

  it("documents every onError event in PoolErrorEvent's doc comment", () => {
    const events = unionMembers("PoolErrorEvent");
    assert.ok(events.includes("connect") && events.includes("leak"), events.join());
    assert.deepEqual(documented("PoolErrorEvent").sort(), [...events].sort());
  });

  it("gives every error class a code from the union", () => {
    const codes = new Set(unionMembers("PoolErrorCode"));
    const made = [
      new errors.PoolClosedError(),
      new errors.AcquireTimeoutError(1),
      new errors.ConnectTimeoutError(1),
      new errors.ConnectionReleasedError("execute"),
      new errors.TransactionFinishedError("commit", "committed"),
      new errors.TransactionRolledBackError(),
      new errors.PoolExhaustedError(1),
      new errors.ConnectionLeakError(1),
      new errors.ConnectionAbandonedError(),
      new errors.QueryTimeoutError(1),
      new errors.CircuitOpenError("open"),
      new errors.PoolNotReadyError(1, 0),
      new clusterErrors.PrimaryReadOnlyError("primary"),
      new clusterErrors.NoHealthyReplicaError(2),
      new clusterErrors.ReplicationLagError("replica", 2, 1),
      new clusterErrors.NoPrimaryError([]),
    ];
    const exported = Object.values({ ...errors, ...clusterErrors }).filter(
      (value) => typeof value === "function" && value.prototype instanceof errors.PoolError,
    );
    assert.equal(made.length, exported.length, "one instance of each exported error class");
    for (const error of made) {
      assert.ok(error instanceof errors.PoolError);
      assert.ok(codes.has(error.code), `${error.name} has code ${error.code}`);
    }
  });
});
