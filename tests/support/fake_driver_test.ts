import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FakeDriver, pgError } from "./fake_driver.ts";
import { flush } from "./manual_clock.ts";

const signal = new AbortController().signal;

function aborted(reason = new Error("aborted")): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

/** Resolves to "pending" when `promise` has not settled after a flush. */
async function state(promise: Promise<unknown>): Promise<string> {
  let result = "pending";
  promise.then(() => result = "resolved", () => result = "rejected");
  await flush();
  return result;
}

describe("FakeDriver", () => {
  it("gives each connection the next id and counts connects, live connections and closes", async () => {
    const driver = new FakeDriver();
    const a = await driver.connect(signal);
    const b = await driver.connect(signal);
    assert.deepEqual([a.id, b.id], [1, 2]);
    assert.equal(driver.last, b);
    assert.deepEqual([driver.connects, driver.live, driver.closes], [2, 2, 0]);
    await a.close();
    await a.close();
    assert.deepEqual([driver.connects, driver.live, driver.closes], [2, 1, 1]);
    assert.equal(a.closeCalls, 2);
  });

  it("settles every call within one microtask when no knob says to wait", async () => {
    const driver = new FakeDriver();
    let connection;
    void driver.connect(signal).then((c) => connection = c);
    await Promise.resolve();
    assert.ok(connection);
  });

  it("fails the next connects with the given error, then connects again", async () => {
    const driver = new FakeDriver();
    const refused = new Error("refused");
    driver.failConnects(2, refused);
    await assert.rejects(driver.connect(signal), refused);
    await assert.rejects(driver.connect(signal), refused);
    const connection = await driver.connect(signal);
    assert.equal(connection.id, 1);
    assert.deepEqual([driver.connects, driver.live], [3, 1]);
  });

  it("holds connects until the gate opens, and fails them when the gate rejects", async () => {
    const driver = new FakeDriver();
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const held = driver.connect(signal);
    assert.equal(await state(held), "pending");
    assert.equal(driver.live, 0);
    gate.resolve();
    assert.equal((await held).id, 1);

    const failing = Promise.withResolvers<void>();
    driver.connectGate = failing.promise;
    const refused = driver.connect(signal);
    failing.reject(new Error("refused"));
    await assert.rejects(refused, /refused/);
    assert.equal(driver.live, 1);
  });

  it("rejects a held connect with the signal's reason and opens nothing when the gate opens later", async () => {
    const driver = new FakeDriver();
    const gate = Promise.withResolvers<void>();
    driver.connectGate = gate.promise;
    const controller = new AbortController();
    const held = driver.connect(controller.signal);
    const reason = new Error("gave up");
    controller.abort(reason);
    await assert.rejects(held, reason);
    gate.resolve();
    await flush();
    assert.deepEqual([driver.connects, driver.connections.length], [1, 0]);
  });

  it("rejects a connect whose signal already aborted with its reason", async () => {
    const driver = new FakeDriver();
    const reason = new Error("too late");
    await assert.rejects(driver.connect(aborted(reason)), reason);
    assert.equal(driver.live, 0);
  });

  it("shows each new connection to onOpen before connect resolves", async () => {
    const driver = new FakeDriver();
    const failing = new Error("no ping");
    driver.onOpen = (connection) => connection.pingError = failing;
    const connection = await driver.connect(signal);
    await assert.rejects(connection.ping(), failing);
  });
});

describe("FakeConnection", () => {
  it("answers select 1 with one row and records every query text and its parameters", async () => {
    const connection = await new FakeDriver().connect(signal);
    assert.deepEqual(await connection.query("select 1", []), {
      rows: [{ "?column?": 1 }],
      rowCount: 1,
      command: "SELECT",
    });
    assert.deepEqual(await connection.query("update t set a = $1", [2]), {
      rows: [],
      rowCount: 0,
      command: "UPDATE",
    });
    assert.deepEqual(connection.queries, ["select 1", "update t set a = $1"]);
    assert.deepEqual(connection.params, [[], [2]]);
  });

  it("answers a copy of a scripted result", async () => {
    const driver = new FakeDriver();
    const scripted = { rows: [{ n: 1 }], rowCount: 1, command: "SELECT" };
    driver.queryResults.set("select n", scripted);
    const connection = await driver.connect(signal);
    const result = await connection.query("select n", []);
    assert.deepEqual(result, scripted);
    result.rows[0].n = 2;
    assert.deepEqual((await connection.query("select n", [])).rows, [{ n: 1 }]);
  });

  it("fails a chosen query text with the given error on every connection", async () => {
    const driver = new FakeDriver();
    const duplicate = pgError("23505", "duplicate key value");
    driver.queryErrors.set("insert into t values (1)", duplicate);
    for (const connection of [await driver.connect(signal), await driver.connect(signal)]) {
      await assert.rejects(connection.query("insert into t values (1)", []), duplicate);
      assert.equal(connection.dirty, false);
    }
    assert.equal(duplicate.code, "23505");
  });

  it("opens a transaction on BEGIN and ends it on COMMIT or ROLLBACK, in any case", async () => {
    const connection = await new FakeDriver().connect(signal);
    assert.equal(
      (await connection.query("BEGIN ISOLATION LEVEL SERIALIZABLE", [])).command,
      "BEGIN",
    );
    assert.equal(connection.dirty, true);
    assert.equal((await connection.query("commit", [])).command, "COMMIT");
    assert.equal(connection.dirty, false);
    await connection.query("begin", []);
    assert.equal((await connection.query("Rollback", [])).command, "ROLLBACK");
    assert.equal(connection.dirty, false);
  });

  it("fails the transaction when a statement in it fails, and answers its COMMIT with ROLLBACK", async () => {
    const driver = new FakeDriver();
    driver.queryErrors.set("insert into t values (1)", pgError("23505"));
    const connection = await driver.connect(signal);
    await connection.query("BEGIN", []);
    await assert.rejects(connection.query("insert into t values (1)", []), { code: "23505" });
    assert.equal(connection.transaction, "failed");
    assert.equal(connection.dirty, true);
    await assert.rejects(connection.query("select 1", []), { code: "25P02" });
    assert.equal((await connection.query("COMMIT", [])).command, "ROLLBACK");
    assert.equal(connection.dirty, false);
  });

  it("keeps a failed transaction open after ROLLBACK TO SAVEPOINT", async () => {
    const driver = new FakeDriver();
    driver.queryErrors.set("bad", new Error("bad"));
    const connection = await driver.connect(signal);
    await connection.query("BEGIN", []);
    await connection.query("SAVEPOINT s", []);
    await assert.rejects(connection.query("bad", []));
    await connection.query("ROLLBACK TO SAVEPOINT s", []);
    assert.equal(connection.transaction, "open");
    assert.equal((await connection.query("COMMIT", [])).command, "COMMIT");
  });

  it("becomes dirty when told to, is cleaned by reset, and stays dirty when reset fails", async () => {
    const connection = await new FakeDriver().connect(signal);
    connection.dirty = true;
    assert.equal(connection.transaction, "open");
    await connection.reset();
    assert.equal(connection.dirty, false);
    connection.dirty = true;
    connection.resetError = new Error("cannot reset");
    await assert.rejects(connection.reset(), /cannot reset/);
    assert.equal(connection.dirty, true);
    assert.equal(connection.resets, 2);
  });

  it("fails pings with the given error and counts them", async () => {
    const connection = await new FakeDriver().connect(signal);
    await connection.ping();
    connection.pingError = new Error("no pong");
    await assert.rejects(connection.ping(), /no pong/);
    assert.equal(connection.pings, 2);
    assert.equal(connection.closed, false);
  });

  it("rejects query, ping and reset with the reason of an aborted signal", async () => {
    const connection = await new FakeDriver().connect(signal);
    const reason = new Error("cancelled");
    await assert.rejects(connection.query("select 1", [], aborted(reason)), reason);
    await assert.rejects(connection.ping(aborted(reason)), reason);
    await assert.rejects(connection.reset(aborted(reason)), reason);
  });

  it("never answers a hanging query until its signal aborts, and is dirty meanwhile", async () => {
    const connection = await new FakeDriver().connect(signal);
    connection.hangQueries = true;
    const controller = new AbortController();
    const query = connection.query("select pg_sleep(1000)", [], controller.signal);
    assert.equal(await state(query), "pending");
    assert.equal(connection.dirty, true);
    const reason = new Error("statement timeout");
    controller.abort(reason);
    await assert.rejects(query, reason);
    assert.equal(connection.dirty, false);
  });

  it("fails the open transaction when a hanging query in it is cancelled", async () => {
    const connection = await new FakeDriver().connect(signal);
    await connection.query("BEGIN", []);
    connection.hangQueries = true;
    const controller = new AbortController();
    const query = connection.query("select pg_sleep(1000)", [], controller.signal);
    controller.abort(new Error("cancelled"));
    await assert.rejects(query);
    assert.equal(connection.transaction, "failed");
  });

  it("never answers a hanging ping until its signal aborts", async () => {
    const connection = await new FakeDriver().connect(signal);
    connection.hangPings = true;
    const controller = new AbortController();
    const ping = connection.ping(controller.signal);
    assert.equal(await state(ping), "pending");
    controller.abort(new Error("ping timeout"));
    await assert.rejects(ping, /ping timeout/);
  });

  it("dies like a connection the server closed: closed, listener told the error, hanging calls rejected", async () => {
    const driver = new FakeDriver();
    const connection = await driver.connect(signal);
    const told: unknown[] = [];
    connection.onClose((error) => told.push(error));
    connection.hangQueries = true;
    const query = connection.query("select pg_sleep(1000)", []);
    const terminated = new Error("terminating connection due to administrator command");
    connection.die(terminated);
    assert.equal(connection.closed, true);
    assert.deepEqual(told, [terminated]);
    await assert.rejects(query, terminated);
    await assert.rejects(connection.query("select 1", []), /closed/);
    await assert.rejects(connection.ping(), /closed/);
    await assert.rejects(connection.reset(), /closed/);
    connection.die(new Error("again"));
    await connection.close();
    assert.deepEqual(told, [terminated]);
    assert.deepEqual([driver.live, driver.closes], [0, 1]);
  });

  it("dies mid-query with the given error when dieOnQuery is set", async () => {
    const connection = await new FakeDriver().connect(signal);
    const told: unknown[] = [];
    connection.onClose((error) => told.push(error));
    const reset = new Error("connection reset by peer");
    connection.dieOnQuery = reset;
    await assert.rejects(connection.query("select 1", []), reset);
    assert.equal(connection.closed, true);
    assert.deepEqual(told, [reset]);
  });

  it("tells the close listener without an error on close(), and in a microtask when registered after", async () => {
    const connection = await new FakeDriver().connect(signal);
    const told: unknown[] = [];
    connection.onClose((error) => told.push(["before", error]));
    await connection.close();
    connection.onClose((error) => told.push(["after", error]));
    assert.deepEqual(told, [["before", undefined]]);
    await Promise.resolve();
    assert.deepEqual(told, [["before", undefined], ["after", undefined]]);
  });
});
