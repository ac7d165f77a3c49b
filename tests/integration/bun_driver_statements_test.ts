/**
 * The Bun.SQL driver against a real PostgreSQL: statements, the types they
 * return, and database errors. Bun.SQL exists only in Bun: on another
 * runtime every test here is reported as skipped, and no server is started.
 *
 * @module
 */

import assert from "node:assert/strict";
import { codeOf, rejection, uniqueName } from "../support/driver_helpers.ts";
import { PREFIX, startBunDriverEnv } from "../support/bun_driver_env.ts";

const { suite, test, driverFor, open } = await startBunDriverEnv();

suite(() => {
  test("runs a parameterised query and returns plain rows, the row count and the command", async () => {
    const connection = await open();
    try {
      const result = await connection.query("select $1::int + 1 as n, $2::text as t", [41, "x"]);
      assert.deepEqual(result, { rows: [{ n: 42, t: "x" }], rowCount: 1, command: "SELECT" });
      assert.equal(Object.getPrototypeOf(result.rows), Array.prototype);

      await connection.query("create temporary table t (n int)", []);
      const insert = await connection.query("insert into t values ($1), ($2)", [1, 2]);
      assert.deepEqual(insert, { rows: [], rowCount: 2, command: "INSERT" });
    } finally {
      await connection.close();
    }
  });

  test("returns arrays as plain arrays, with or without parameters, and bytea as bytes", async () => {
    const connection = await open();
    const columns =
      `'{1,2}'::int4[] as ints, '{1.5}'::float4[] as floats, '{1,NULL}'::int4[] as holes,
      '{{1,2},{3,4}}'::int4[] as nested, '{a,"b c",NULL}'::text[] as texts, '\\x0102'::bytea as bytes`;
    const expected = {
      ints: [1, 2],
      floats: [1.5],
      holes: [1, null],
      nested: [[1, 2], [3, 4]],
      texts: ["a", "b c", null],
    };
    try {
      for (
        const [text, params] of [[`select ${columns}`, []], [`select ${columns}, $1::int as p`, [
          1,
        ]]] as const
      ) {
        const [{ bytes, p: _, ...row }] = (await connection.query(text, params)).rows;
        assert.deepEqual(row, expected, `${params.length} parameters`);
        for (const value of Object.values(row)) assert.ok(Array.isArray(value));
        assert.ok(bytes instanceof Uint8Array);
        assert.deepEqual([...bytes], [1, 2]);
      }
      const { rows } = await connection.query("select $1::int[] as ints, $2::text[] as texts", [
        [3, null],
        ['q"uote', "back\\slash", "", null],
      ]);
      assert.deepEqual(rows, [{ ints: [3, null], texts: ['q"uote', "back\\slash", "", null] }]);
      // Unlike postgres.js, which refuses it, Bun sends undefined as NULL.
      assert.deepEqual((await connection.query("select $1::int as n", [undefined])).rows, [{
        n: null,
      }]);
    } finally {
      await connection.close();
    }
  });

  test("gives a database error its SQLSTATE as code and stays usable", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.equal(codeOf(error), "22012");
      assert.equal((error as { bunCode?: unknown }).bunCode, "ERR_POSTGRES_SERVER_ERROR");
      assert.equal((error as { severity?: unknown }).severity, "ERROR");
      assert.equal(connection.dirty, false);
      assert.equal(connection.closed, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test("refuses two statements in one query with parameters", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1; select $1::int", [2]));
      assert.equal(codeOf(error), "42601");
    } finally {
      await connection.close();
    }
  });

  test("a parameter Bun cannot send fails the call and keeps the connection", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select $1 as x", [Symbol("no")]));
      assert.ok(error instanceof TypeError, String(error));
      assert.equal(connection.closed, false);
      assert.deepEqual((await connection.query("select 1 as one", [])).rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test("classifies server-wide errors as postgresDriver does", async () => {
    const driver = driverFor(uniqueName(PREFIX));
    assert.equal(driver.classifyError!({ code: "57P01" }), "serverGone");
    assert.equal(driver.classifyError!({ code: "25006" }), "readOnly");
    assert.equal(driver.classifyError!({ code: "22012" }), undefined);
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("set default_transaction_read_only = on", []);
      const error = await rejection(connection.query("create temporary table t (n int)", []));
      assert.equal(driver.classifyError!(error), "readOnly");
    } finally {
      await connection.close();
    }
  });
});
