/**
 * The driver contract against a real PostgreSQL, for each driver:
 * statements, the types they return, parameters, several statements in one
 * query, and database errors. Then how Bun.SQL and node-postgres each
 * return values, and what only node-postgres does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startDriverContract } from "./_driver_contract.ts";

const forEachDriver = await startDriverContract();

forEachDriver(({ target, test, driverFor, open, name: fresh }) => {
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

  test("parses arrays of built-in types and sends JS arrays as parameters", async () => {
    const driver = driverFor(fresh());
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
    // postgres.js's first connection fetches the array types, the second reuses them.
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

  test(
    target.undefinedParameter === "null"
      ? "sends an undefined parameter as NULL"
      : "refuses an undefined parameter without sending it, and stays usable",
    async () => {
      const connection = await open();
      try {
        const outcome = await connection.query("select $1::int as n", [undefined]).then(
          (result) => result.rows,
          (error: unknown) => error,
        );
        if (target.undefinedParameter === "null") assert.deepEqual(outcome, [{ n: null }]);
        else {
          assert.equal(codeOf(outcome), target.undefinedParameter, String(outcome));
          assert.equal(connection.closed, false);
          assert.deepEqual((await connection.query("select 1 as one", [])).rows, [{ one: 1 }]);
        }
      } finally {
        await connection.close();
      }
    },
  );

  test("keeps the SQLSTATE code of a database error and stays usable", async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.equal(codeOf(error), "22012");
      target.databaseError(error);
      assert.equal(connection.dirty, false);
      assert.equal(connection.closed, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test("returns whole rows after a statement that failed midway through its rows", async () => {
    const connection = await open();
    try {
      // Two rows reach the client before the division by zero; postgres.js
      // 3.4.9 then started the next result at index 2.
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

  test(
    target.severalStatements === "last"
      ? "runs several statements without parameters and returns the last one's result, refuses them with parameters"
      : "refuses two statements in one query, with parameters or without",
    async () => {
      const connection = await open();
      try {
        const text = "select 1 as a; select 2 as b, 3 as c";
        if (target.severalStatements === "last") {
          const result = await connection.query(text, []);
          assert.deepEqual(result, { rows: [{ b: 2, c: 3 }], rowCount: 1, command: "SELECT" });
          assert.equal(connection.dirty, false);
        } else {
          assert.equal(codeOf(await rejection(connection.query(text, []))), "42601");
        }
        const error = await rejection(connection.query("select 1; select $1::int", [2]));
        assert.equal(codeOf(error), "42601");
      } finally {
        await connection.close();
      }
    },
  );

  const unsendable = target.unsendable;
  if (unsendable) {
    test("rejects a parameter it cannot serialize without sending it, and stays usable", async () => {
      const connection = await open();
      try {
        const error = await rejection(connection.query("select $1::jsonb as j", [unsendable()]));
        assert.ok(error instanceof TypeError, String(error));
        assert.equal(connection.closed, false);
        const { rows } = await connection.query("select $1::int as n", [5]);
        assert.deepEqual(rows, [{ n: 5 }]);
      } finally {
        await connection.close();
      }
    });
  }

  test("classifies server-wide errors: a server gone, a read-only server", async () => {
    const driver = driverFor(fresh());
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

  if (target.onnotice) {
    test("hands the server's notices to onnotice", async () => {
      const notices: Record<string, unknown>[] = [];
      const driver = driverFor(fresh(), {
        onnotice: (notice: Record<string, unknown>) => notices.push(notice),
      });
      const connection = await driver.connect(AbortSignal.timeout(10_000));
      try {
        await connection.query("do $$ begin raise notice 'careful: %', 42; end $$", []);
        assert.deepEqual(notices.map((notice) => notice.message), ["careful: 42"]);
      } finally {
        await connection.close();
      }
    });
  }

  if (target.id === "bun") {
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
        const queries = [[`select ${columns}`, []], [`select ${columns}, $1::int as p`, [
          1,
        ]]] as const;
        for (const [text, params] of queries) {
          const [{ bytes, p: _, ...row }] = (await connection.query(text, params)).rows;
          assert.deepEqual(row, expected, `${params.length} parameters`);
          for (const value of Object.values(row)) assert.ok(Array.isArray(value));
          assert.ok(bytes instanceof Uint8Array);
          assert.deepEqual([...bytes], [1, 2]);
        }
      } finally {
        await connection.close();
      }
    });
  }

  if (target.id === "pg") {
    test("returns values as node-postgres parses them and sends parameters as text", async () => {
      const connection = await open();
      try {
        const { rows: [row] } = await connection.query(
          `select 9007199254740993::int8 as big, 1.50::numeric as num, 2.5::float8 as float,
             array[1, null]::int[] as ints, array['a', 'b c']::text[] as texts,
             '{"a":[1]}'::jsonb as json, '\\x0102'::bytea as bytes,
             '2024-01-02T03:04:05Z'::timestamptz as at, true as yes,
             $1::int as missing, $2::int[] as param_ints, $3::jsonb as param_json,
             $4::timestamptz as param_at, $5 as untyped`,
          [undefined, [3, null], { b: 2 }, new Date("2024-05-06T07:08:09Z"), 1.5],
        );
        assert.deepEqual(row, {
          big: "9007199254740993",
          num: "1.50",
          float: 2.5,
          ints: [1, null],
          texts: ["a", "b c"],
          json: { a: [1] },
          bytes: Buffer.from([1, 2]),
          at: new Date("2024-01-02T03:04:05Z"),
          yes: true,
          missing: null,
          param_ints: [3, null],
          param_json: { b: 2 },
          param_at: new Date("2024-05-06T07:08:09Z"),
          untyped: "1.5",
        });
      } finally {
        await connection.close();
      }
    });

    test("never leaves a prepared statement on the server", async () => {
      const connection = await open();
      try {
        for (let i = 0; i < 3; i++) await connection.query("select $1::int as n", [i]);
        const { rows } = await connection.query(
          "select count(*)::int as n from pg_prepared_statements",
          [],
        );
        assert.deepEqual(rows, [{ n: 0 }]);
      } finally {
        await connection.close();
      }
    });
  }
});
