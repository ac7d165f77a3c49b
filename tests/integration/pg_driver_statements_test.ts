/**
 * The node-postgres driver against a real PostgreSQL: statements, the types
 * they return as node-postgres parses them, and database errors.
 *
 * @module
 */

import { it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import pg from "pg";
import { codeOf, rejection } from "../support/driver_helpers.ts";
import { startPgDriverEnv, TEST } from "../support/pg_driver_env.ts";

const { suite, open, driverFor } = await startPgDriverEnv();

suite(() => {
  it(
    "runs a parameterised query and returns plain rows, the row count and the command",
    TEST,
    async () => {
      const connection = await open();
      try {
        const result = await connection.query("select $1::int + 1 as n, $2::text as t", [41, "x"]);
        assert.deepEqual(result, { rows: [{ n: 42, t: "x" }], rowCount: 1, command: "SELECT" });
        assert.equal(Object.getPrototypeOf(result.rows), Array.prototype);

        await connection.query("create temporary table t (n int)", []);
        const insert = await connection.query("insert into t values ($1), ($2)", [1, 2]);
        assert.deepEqual([insert.rows, insert.rowCount, insert.command], [[], 2, "INSERT"]);
      } finally {
        await connection.close();
      }
    },
  );

  it("returns values as node-postgres parses them and sends parameters as text", TEST, async () => {
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

  it("keeps the SQLSTATE code of a database error and stays usable", TEST, async () => {
    const connection = await open();
    try {
      const error = await rejection(connection.query("select 1 / 0", []));
      assert.ok(error instanceof pg.DatabaseError);
      assert.equal(codeOf(error), "22012");
      assert.equal(connection.dirty, false);
      const { rows } = await connection.query("select 1 as one", []);
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await connection.close();
    }
  });

  it(
    "rejects a parameter it cannot serialize without sending it, and stays usable",
    TEST,
    async () => {
      const connection = await open();
      try {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        const error = await rejection(connection.query("select $1::jsonb as j", [circular]));
        assert.ok(error instanceof TypeError, String(error));
        assert.equal(connection.closed, false);
        const { rows } = await connection.query("select $1::int as n", [5]);
        assert.deepEqual(rows, [{ n: 5 }]);
      } finally {
        await connection.close();
      }
    },
  );

  it(
    "runs several statements without parameters and returns the last one's result",
    TEST,
    async () => {
      const connection = await open();
      try {
        const result = await connection.query("select 1 as a; select 2 as b, 3 as c", []);
        assert.deepEqual(result, { rows: [{ b: 2, c: 3 }], rowCount: 1, command: "SELECT" });
        const error = await rejection(connection.query("select $1::int; select 2", [1]));
        assert.equal(codeOf(error), "42601");
      } finally {
        await connection.close();
      }
    },
  );

  it("never leaves a prepared statement on the server", TEST, async () => {
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

  it("hands the server's notices to onnotice", TEST, async () => {
    const notices: Record<string, unknown>[] = [];
    const driver = driverFor("x-pool-pg-notices", { onnotice: (notice) => notices.push(notice) });
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("do $$ begin raise notice 'careful: %', 42; end $$", []);
      assert.deepEqual(notices.map((notice) => notice.message), ["careful: 42"]);
    } finally {
      await connection.close();
    }
  });
});
