/**
 * Pipelining in the core, on the fake driver: when single statements from
 * `pool.execute` may share a connection, and when they may not.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PoolExhaustedError, QueryTimeoutError } from "../../src/errors.ts";
import type { PoolOptions } from "../../src/config.ts";
import { PIPELINE_STALL_MS, Pipelines, SLOW_TEXTS_KEPT } from "../../src/_core/pipelines.ts";
import { PoolEntry } from "../../src/_core/entry.ts";
import { flush } from "../support/manual_clock.ts";
import { FakeConnection, FakeDriver } from "../support/fake_driver.ts";
import { assertConsistent, type Harness, harness, observe } from "../support/pool_helpers.ts";

const SELECTS = (text: string) => /^\s*select\b/i.test(text);

/** A pool whose fake driver pipelines selects, holding each in flight until answered. */
function pipelining(options: Partial<PoolOptions> = {}): Harness {
  const h = harness({ maxOpenConns: 2, ...options });
  h.driver.pipelinable = SELECTS;
  h.driver.onOpen = (connection) => connection.holdPipeline = true;
  return h;
}

/** Starts `count` executes of `select 1` and lets the pool place them. */
async function start(h: Harness, count: number, text = "select 1") {
  const calls = Array.from({ length: count }, () => observe(h.pool.execute(text)));
  await flush();
  return calls;
}

describe("pipelining", () => {
  it("sends a statement on a busy connection only once every connection is busy and no more may open", async () => {
    const h = pipelining({ maxOpenConns: 2 });
    await start(h, 2);
    assert.equal(h.driver.connections.length, 2, "the first two open a connection each");
    assert.deepEqual(h.driver.connections.map((c) => c.inFlight), [1, 1]);
    assert.equal(h.pool.getMetrics().pipelinedStatements, 0);
    await start(h, 3);
    assert.equal(h.driver.connects, 2, "no third connection");
    assert.deepEqual(h.driver.connections.map((c) => c.inFlight).sort(), [2, 3]);
    const m = h.pool.getMetrics();
    assert.equal(m.pipelinedStatements, 3);
    assert.equal(m.inUse, 2, "a shared connection counts once");
    assert.equal(m.waiting, 0);
    assertConsistent(h.pool, h.driver);
  });

  it("prefers the connection with the fewest statements in flight", async () => {
    const h = pipelining({ maxOpenConns: 2 });
    await start(h, 2);
    await start(h, 2);
    const [first, second] = h.driver.connections;
    assert.deepEqual([first.inFlight, second.inFlight], [2, 2]);
    first.answer(2);
    await flush();
    await start(h, 3);
    // The first goes to the idle one, the second to it too (1 < 2), the third to either.
    assert.ok(first.inFlight >= 2, `two onto the emptier one first: ${first.inFlight}`);
    assert.equal(first.inFlight + second.inFlight, 5);
  });

  it("never puts more than maxPipeline statements on a connection, and queues the rest in order", async () => {
    const h = pipelining({ maxOpenConns: 2, maxPipeline: 3 });
    const calls = await start(h, 8);
    assert.deepEqual(h.driver.connections.map((c) => c.inFlight), [3, 3]);
    assert.equal(h.pool.getMetrics().waiting, 2);
    h.driver.connections[1].answer(1);
    await flush();
    assert.deepEqual(
      h.driver.connections.map((c) => c.inFlight),
      [3, 3],
      "one waiter took the room",
    );
    assert.equal(h.pool.getMetrics().waiting, 1);
    for (const connection of h.driver.connections) connection.answer(3);
    await flush();
    for (const connection of h.driver.connections) connection.answer(3);
    await flush();
    assert.ok(calls.every((call) => call.status === "fulfilled"), "every statement answered");
    assert.ok(h.driver.connections.every((c) => c.mostInFlight <= 3));
    assert.equal(h.driver.connects, 2);
    const m = h.pool.getMetrics();
    assert.deepEqual([m.inUse, m.idle, m.waiting], [0, 2, 0], "both back in the idle set");
    assertConsistent(h.pool, h.driver);
  });

  it("never pipelines onto a connection lent by getConnection, beginTx or transaction", async () => {
    const h = pipelining({ maxOpenConns: 3 });
    const held = await h.pool.getConnection();
    const tx = await h.pool.beginTx();
    let inside: Promise<unknown> | undefined;
    const transaction = observe(h.pool.transaction(async (t) => {
      inside = t.execute("select 2");
      await new Promise<void>(() => {});
    }));
    await flush();
    assert.equal(h.driver.connections.length, 3);
    const calls = await start(h, 4);
    assert.ok(calls.every((call) => call.status === "pending"));
    assert.equal(h.pool.getMetrics().waiting, 4, "they wait: no connection may be shared");
    assert.ok(h.driver.connections.every((c) => c.pipelined.length === 0));
    held.release();
    await flush();
    const shared = h.driver.connections.filter((c) => c.pipelined.length > 0);
    assert.equal(shared.length, 1, "the released connection carries all four");
    assert.equal(shared[0].inFlight, 4);
    assert.equal(h.pool.getMetrics().waiting, 0);
    await tx.rollback();
    assert.equal(transaction.status, "pending");
    assert.ok(inside !== undefined);
  });

  it("stops pipelining while a getConnection caller waits, so it gets the next connection that drains", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    await start(h, 2);
    const exclusive = observe(h.pool.getConnection());
    const after = await start(h, 2);
    const [connection] = h.driver.connections;
    assert.equal(connection.inFlight, 2, "nothing joined behind the waiting caller");
    connection.answer(2);
    await flush();
    assert.equal(exclusive.status, "fulfilled", "the waiter got the drained connection");
    assert.ok(
      after.every((call) => call.status === "pending"),
      "the later statements wait behind it",
    );
    exclusive.value!.release();
    await flush();
    assert.equal(connection.inFlight, 2, "then they share it again");
    connection.answer(2);
    await flush();
    assert.ok(after.every((call) => call.status === "fulfilled"));
  });

  it("adds nothing behind a statement that has run past the stall bound", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    await start(h, 1);
    await h.clock.advanceAsync(PIPELINE_STALL_MS + 1);
    const late = await start(h, 1);
    assert.equal(h.driver.connections[0].inFlight, 1, "the slow statement holds nobody up");
    assert.equal(h.pool.getMetrics().waiting, 1);
    h.driver.connections[0].answer(1);
    await flush();
    assert.equal(h.driver.connections[0].inFlight, 1, "the waiter runs once it ended");
    h.driver.connections[0].answer(1);
    await flush();
    assert.equal(late[0].status, "fulfilled");
  });

  it("adds nothing behind a statement whose text ran past the stall bound last time", async () => {
    const h = pipelining({ maxOpenConns: 2 });
    const slow = "select pg_sleep(1)";
    const learning = await start(h, 1, slow);
    await h.clock.advanceAsync(PIPELINE_STALL_MS + 1);
    h.driver.connections[0].answer(1);
    await flush();
    assert.equal(learning[0].status, "fulfilled");
    await start(h, 1, slow);
    await start(h, 4);
    const [sleeping, other] = h.driver.connections;
    assert.deepEqual(sleeping.pipelined, [slow, slow], "the slow text went to the idle connection");
    assert.equal(sleeping.inFlight, 1, "nothing joined behind it, though it had run 0 ms");
    assert.equal(other.inFlight, 4, "the fast ones share the other connection");
    sleeping.answer(1);
    other.answer(4);
    await flush();
    assertConsistent(h.pool, h.driver);
  });

  it("forgets a slow text once it runs within the stall bound", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    const slow = "select pg_sleep(0.02)";
    await start(h, 1, slow);
    await h.clock.advanceAsync(PIPELINE_STALL_MS + 1);
    h.driver.connections[0].answer(1);
    await flush();
    await start(h, 1, slow);
    await start(h, 1);
    const [connection] = h.driver.connections;
    assert.equal(connection.inFlight, 1, "known slow: the select waits");
    connection.answer(1);
    await flush();
    connection.answer(1);
    await flush();
    await start(h, 1, slow);
    await start(h, 1);
    assert.equal(connection.inFlight, 2, "it ran fast last time: the select joins behind it");
    connection.answer(2);
    await flush();
  });

  it("learns nothing from a statement that timed out", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    const text = "select pg_sleep(5)";
    const timedOut = observe(h.pool.execute(text, [], { timeout: PIPELINE_STALL_MS * 2 }));
    await flush();
    await h.clock.advanceAsync(PIPELINE_STALL_MS * 2 + 1);
    assert.equal(timedOut.status, "rejected");
    h.driver.connections[0].answer(1);
    await flush();
    await start(h, 1, text);
    await start(h, 1);
    assert.equal(
      h.driver.connections[0].inFlight,
      2,
      "the caller's timeout says nothing of the text",
    );
    h.driver.connections[0].answer(2);
    await flush();
  });

  it(`remembers at most ${SLOW_TEXTS_KEPT} slow texts, forgetting the oldest first`, () => {
    const pipelines = new Pipelines(10);
    const entry = new PoolEntry(new FakeConnection(new FakeDriver(), 1), Infinity, 0, 0);
    const runLong = (text: string) => {
      pipelines.open(entry);
      pipelines.started(entry, 0, false);
      pipelines.ended(entry, PIPELINE_STALL_MS + 1, text, false, true);
    };
    for (let n = 0; n <= SLOW_TEXTS_KEPT; n++) runLong(`select ${n}`);
    assert.equal(pipelines.isSlow("select 0"), false, "the oldest is forgotten");
    assert.equal(pipelines.isSlow("select 1"), true);
    assert.equal(pipelines.isSlow(`select ${SLOW_TEXTS_KEPT}`), true);
    runLong("select 1");
    runLong("select new");
    assert.equal(pipelines.isSlow("select 1"), true, "running long again makes it the newest");
    assert.equal(pipelines.isSlow("select 2"), false);
  });

  it("gives a statement the driver deems unpipelinable a connection of its own", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    await start(h, 1);
    const update = await start(h, 1, "update t set n = 1");
    assert.equal(update[0].status, "pending");
    assert.equal(h.pool.getMetrics().waiting, 1);
    assert.deepEqual(h.driver.connections[0].pipelined, ["select 1"]);
    h.driver.connections[0].answer(1);
    await flush();
    assert.equal(update[0].status, "fulfilled");
    assert.deepEqual(h.driver.connections[0].queries.at(-1), "update t set n = 1");
  });

  it("does not pipeline with maxPipeline 0, or when the driver cannot", async () => {
    for (
      const h of [pipelining({ maxOpenConns: 1, maxPipeline: 0 }), harness({ maxOpenConns: 1 })]
    ) {
      h.driver.onOpen = (connection) => connection.hangQueries = true;
      await start(h, 3);
      assert.equal(h.pool.getMetrics().waiting, 2);
      assert.deepEqual(h.driver.connections[0].pipelined, []);
      assert.equal(h.pool.getMetrics().pipelinedStatements, 0);
    }
  });

  it("fails one statement alone, and returns the connection when the last one ends", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    h.driver.queryErrors.set("select 'boom'", new Error("boom"));
    const [first] = await start(h, 1);
    const [failing] = await start(h, 1, "select 'boom'");
    const [third] = await start(h, 1);
    h.driver.connections[0].answer(3);
    await flush();
    assert.equal(first.status, "fulfilled");
    assert.equal(failing.status, "rejected");
    assert.equal((failing.reason as Error).message, "boom");
    assert.equal(third.status, "fulfilled");
    const m = h.pool.getMetrics();
    assert.deepEqual([m.inUse, m.idle], [0, 1]);
    assertConsistent(h.pool, h.driver);
  });

  it("times out one pipelined statement without touching the others", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    const [first] = await start(h, 1);
    const timed = observe(h.pool.execute("select 2", [], { timeout: 50 }));
    await flush();
    await h.clock.advanceAsync(50);
    assert.equal(timed.status, "rejected");
    assert.ok(timed.reason instanceof QueryTimeoutError);
    assert.equal(first.status, "pending");
    h.driver.connections[0].answer(2);
    await flush();
    assert.equal(first.status, "fulfilled");
    assert.equal(h.pool.getMetrics().idle, 1);
  });

  it("joins no connection of an older generation after reset()", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    await start(h, 1);
    h.pool.reset();
    const [after] = await start(h, 1);
    assert.equal(h.driver.connections[0].inFlight, 1, "nothing joined the retired connection");
    assert.equal(after.status, "pending");
    h.driver.connections[0].answer(1);
    await flush();
    assert.equal(h.driver.connections[0].closed, true, "retired once its statement ended");
    assert.equal(h.driver.connections.length, 2);
    h.driver.connections[1].answer(1);
    await flush();
    assert.equal(after.status, "fulfilled");
  });

  it("refuses a statement at once when maxWaiting callers already wait and no connection has room", async () => {
    const h = pipelining({ maxOpenConns: 1, maxPipeline: 1, maxWaiting: 1 });
    await start(h, 1);
    const [waits] = await start(h, 1);
    const [refused] = await start(h, 1);
    assert.equal(waits.status, "pending");
    assert.equal(h.pool.getMetrics().waiting, 1);
    assert.equal(refused.status, "rejected");
    assert.ok(refused.reason instanceof PoolExhaustedError);
    assert.equal(h.pool.getMetrics().acquireRejections, 1);
  });

  it("waits for the statements in flight when the pool closes", async () => {
    const h = pipelining({ maxOpenConns: 1 });
    const calls = await start(h, 3);
    const closed = observe(h.pool.close());
    await flush();
    assert.equal(closed.status, "pending");
    h.driver.connections[0].answer(3);
    await flush();
    assert.ok(calls.every((call) => call.status === "fulfilled"));
    await h.clock.advanceAsync(1);
    assert.equal(closed.status, "fulfilled");
    assert.equal(h.driver.live, 0);
  });
});
