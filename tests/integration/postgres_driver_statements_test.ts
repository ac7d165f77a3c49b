/**
 * The postgres.js driver against a real PostgreSQL: statements, the types
 * they return, and database errors.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startPostgresDriverEnv, TEST } from "../support/postgres_driver_env.ts";

const { db, suite, open } = await startPostgresDriverEnv();

suite(() => {
  it(
    "runs a parameterised query and returns plain rows, the row count and the command",
    TEST,
    async () => {
      const connection = await open();
      try {
        const result = await connection.query(
          "select $1::int + 1 as n, $2::text as t",
          [41, "x"],
        );
        assert.deepEqual(result.rows, [{ n: 42, t: "x" }]);
        assert.equal(Object.getPrototypeOf(result.rows), Array.prototype);
        assert.equal(result.rowCount, 1);
        assert.equal(result.command, "SELECT");

        await connection.query("create temporary table t (n int)", []);
        const insert = await connection.query(
          "insert into t values ($1), ($2)",
          [1, 2],
        );
        assert.deepEqual(
          [insert.rows, insert.rowCount, insert.command],
          [[], 2, "INSERT"],
        );
      } finally {
        await connection.close();
      }
    },
  );

  it("parses arrays of built-in types and sends JS arrays as parameters", TEST, async () => {
    const driver = postgresDriver(db.url);
    const text = `select array[1, 2]::int[] as ints,
      array['x', 'y z', 'NULL', null, 'a"b\\c']::text[] as texts,
      '{{1,2},{3,4}}'::int[] as nested,
      array[true, false] as bools,
      array['{"a":1}']::jsonb[] as jsons,
      $1::int[] as param_ints,
      $2::text[] as param_texts`;
    const params = [[3, null], ['q"uote', "back\\slash", "", null]];
    const expected = {
      ints: [1, 2],
      texts: ["x", "y z", "NULL", null, 'a"b\\c'],
      nested: [[1, 2], [3, 4]],
      bools: [true, false],
      jsons: [{ a: 1 }],
      param_ints: [3, null],
      param_texts: ['q"uote', "back\\slash", "", null],
    };
    // The first connection fetches the array types, the second reuses them.
    for (let i = 0; i < 2; i++) {
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        const { rows } = await connection.query(text, params);
        assert.deepEqual(rows, [expected]);
      } finally {
        await connection.close();
      }
    }
  });

  it("keeps the SQLSTATE code of a database error and stays usable", TEST, async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.equal(codeOf(error), "22012");
      assert.equal((error as Error).name, "PostgresError");
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  it("returns whole rows after a statement that failed midway through its rows", TEST, async () => {
    const connection = await open();
    try {
      // Two rows reach the client before the division by zero; postgres.js
      // 3.4.9 then starts the next result at index 2.
      const error = await rejection(
        connection.query(
          "select case when g < 3 then g else 1 / (g - g) end as x from generate_series(1, 5) g",
          [],
        ),
      );
      assert.equal(codeOf(error), "22012");
      const { rows, rowCount } = await connection.query("select $1::int as n", [7]);
      assert.deepEqual(rows, [{ n: 7 }]);
      assert.equal(rowCount, 1);
    } finally {
      await connection.close();
    }
  });

  it("refuses two statements in one query", TEST, async () => {
    const connection = await open();
    try {
      const error = await rejection(
        connection.query("select 1; select 2", []),
      );
      assert.equal(codeOf(error), "42601");
    } finally {
      await connection.close();
    }
  });
});
