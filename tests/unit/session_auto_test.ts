import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { changesSession, tagChangesSession } from "../../src/_core/session_state.ts";
import { ConnectionPool } from "../../src/pool.ts";
import { FakeDriver } from "../support/fake_driver.ts";
import { flush } from "../support/manual_clock.ts";
import { assertConsistent, fakeOf, harness } from "../support/pool_helpers.ts";

describe('resetSession "auto"', () => {
  it("sends nothing on release after ordinary statements", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    const fake = await fakeOf(driver, conn);
    await conn.execute("select $1::int", [1]);
    await conn.execute("update t set n = n + 1");
    conn.release();
    await pool.execute("insert into t values (1)");
    await pool.transaction((tx) => tx.execute("set local statement_timeout = 10"));
    await flush();
    assert.deepEqual([fake.discards, fake.resets, pool.getMetrics().idle], [0, 0, 1]);
  });

  it("clears the session on release after a statement that changed it, once", async () => {
    const { pool, driver } = harness();
    const conn = await pool.getConnection();
    const fake = await fakeOf(driver, conn);
    await conn.execute("SET search_path = app");
    conn.release();
    assert.equal(pool.getMetrics().checking, 1, "out of use until cleared");
    await flush();
    assert.equal(fake.discards, 1);
    await pool.execute("select 1");
    await flush();
    assert.equal(fake.discards, 1, "the next borrower's plain statement costs nothing");
    assertConsistent(pool, driver);
  });

  it("clears the session after a statement that failed but may have taken a session lock", async () => {
    const { pool, driver } = harness();
    driver.queryErrors.set("select pg_advisory_lock(1), 1/0", new Error("division by zero"));
    await assert.rejects(pool.execute("select pg_advisory_lock(1), 1/0"));
    await flush();
    assert.equal(driver.last!.discards, 1);
  });

  it("clears the session after a plain SET inside a committed transaction, which persists", async () => {
    const { pool, driver } = harness();
    await pool.transaction((tx) => tx.execute("set application_name = 'x'"));
    await flush();
    assert.equal(driver.last!.discards, 1);
  });

  it("trusts the command tag when the text hides the change", async () => {
    const { pool, driver } = harness();
    driver.queryResults.set("/* hidden */ (listen)", { rows: [], rowCount: 0, command: "LISTEN" });
    await pool.execute("/* hidden */ (listen)");
    await flush();
    assert.equal(driver.last!.discards, 1);
  });

  it("never pipelines a statement that changes the session", async () => {
    const { pool, driver } = harness({ maxPipeline: 4 });
    driver.pipelinable = () => true;
    await pool.execute("select set_config('app.user', 'ada', false)");
    await pool.execute("select 1");
    await flush();
    assert.deepEqual(driver.last!.pipelined, ["select 1"]);
    assert.equal(driver.last!.discards, 1);
  });

  it("is off by default behind a transaction pooler, and refused there when asked for", async () => {
    const shared = Object.assign(new FakeDriver(), { sharesSessions: true });
    const pool = new ConnectionPool({ driver: shared, healthInterval: 0 });
    await pool.execute("set search_path = app");
    await flush();
    assert.equal(shared.last!.discards, 0);
    await pool.close();
    for (const resetSession of [true, "auto"] as const) {
      assert.throws(
        () => new ConnectionPool({ driver: shared, resetSession }),
        (error: Error) =>
          error instanceof TypeError &&
          error.message.includes(`resetSession (${JSON.stringify(resetSession)})`),
      );
    }
  });

  it("does nothing after a session change when resetSession is false", async () => {
    const { pool, driver } = harness({ resetSession: false });
    await pool.execute("set search_path = app");
    await flush();
    assert.equal(driver.last!.discards, 0);
  });

  it('refuses a resetSession other than true, false or "auto", naming it and the value', () => {
    assert.throws(
      () => harness({ resetSession: "always" as unknown as boolean }),
      (error: Error) =>
        error instanceof TypeError && error.message.includes("resetSession") &&
        error.message.includes('got "always"'),
    );
  });
});

describe("which statements change the session", () => {
  const changes = [
    "set search_path = app",
    "  SET application_name TO 'x'",
    "/* c */ set session characteristics as transaction read only",
    "set role admin",
    "reset all",
    "select set_config('a', 'b', false)",
    "select set_config('a', $1, $2)",
    "select pg_advisory_lock(1)",
    "select pg_try_advisory_lock_shared(1)",
    "SELECT PG_ADVISORY_UNLOCK(1)",
    "listen jobs",
    "prepare q as select 1",
    "declare c cursor with hold for select 1",
    "create temp table t (x int)",
    "create local temporary view v as select 1",
    "create table pg_temp.t (x int)",
    "select 1 as x into temp t",
    "do $$ begin perform 1; end $$",
    "select 1; set search_path = app",
  ];
  const changesNothing = [
    "select 1",
    "insert into t values (1)",
    "set local search_path = app",
    "set transaction isolation level serializable",
    "set constraints all deferred",
    "select set_config('a', 'b', true)",
    "select pg_advisory_xact_lock(1)",
    "declare c cursor for select 1",
    "create table t (temperature int)",
    "unlisten *",
    "begin",
  ];
  it("finds each change of the session", () => {
    for (const text of changes) assert.equal(changesSession(text), true, text);
  });

  it("finds none in ordinary or transaction-scoped statements", () => {
    for (const text of changesNothing) assert.equal(changesSession(text), false, text);
  });

  it("takes a SET or RESET tag as a change unless the text was a transaction-scoped SET", () => {
    assert.equal(tagChangesSession("set local a = 1", "SET"), false);
    assert.equal(tagChangesSession("call set_it()", "SET"), true);
    assert.equal(tagChangesSession("select 1", "SELECT"), false);
    assert.equal(tagChangesSession("execute q", "PREPARE"), true);
  });
});
