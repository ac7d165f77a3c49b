import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pipelinable } from "../../src/drivers/_shared/pipelinable.ts";

describe("which statements may be pipelined", () => {
  for (
    const text of [
      "select 1",
      "  SELECT $1::int",
      "insert into t values (1) returning id",
      "update t set n = n + 1 where id = $1",
      "delete from t where id = $1;",
      "with x as (select 1) select * from x",
      "values (1), (2)",
      "table t",
      "-- the next one\nselect 1",
      "/* why */ select 1 ;  ",
    ]
  ) {
    it(`accepts ${JSON.stringify(text)}`, () => assert.equal(pipelinable(text), true));
  }
  for (
    const text of [
      "begin",
      "start transaction",
      "commit",
      "set search_path = x",
      "reset all",
      "lock table t",
      "declare c cursor with hold for select 1",
      "listen x",
      "prepare p as select 1",
      "savepoint a",
      "select 1; select 2",
      "select 1; begin",
      "selectx 1",
      "call p()",
      "",
      "   ",
      "-- only a comment",
    ]
  ) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(pipelinable(text), false));
  }
});
