/**
 * `sql`, `sql.identifier` and `sql.join`: the text and parameters a
 * template compiles to, and what they refuse. No value can change the
 * statement's text.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { sql, type SqlFragment } from "../../mod.ts";

/** A template's strings as a tag receives them, for templates built at run time. */
function strings(pieces: readonly string[]): TemplateStringsArray {
  return Object.freeze(Object.assign([...pieces], { raw: Object.freeze([...pieces]) }));
}

/** Asserts `call` throws a TypeError whose message starts "Cannot build SQL: " and contains `part`. */
function refuses(call: () => unknown, part: string): void {
  assert.throws(call, (error) => {
    assert.ok(error instanceof TypeError, String(error));
    assert.ok(error.message.startsWith("Cannot build SQL: "), error.message);
    assert.ok(error.message.includes(part), `${JSON.stringify(part)} in: ${error.message}`);
    return true;
  });
}

function compiled(fragment: SqlFragment): [string, readonly unknown[]] {
  return [fragment.text, fragment.values];
}

describe("sql fragments", () => {
  it("number each value as a parameter, in order", () => {
    const date = new Date("2026-01-01T00:00:00Z");
    const fragment =
      sql`select * from users where id = ${7} and name = ${"Ada"} and seen < ${date}`;
    assert.deepEqual(compiled(fragment), [
      "select * from users where id = $1 and name = $2 and seen < $3",
      [7, "Ada", date],
    ]);
    assert.deepEqual(compiled(sql`select 1`), ["select 1", []]);
  });

  it("splice fragments within fragments, renumbering their values in the whole statement", () => {
    const byName = sql`name = ${"Ada"}`;
    const recent = sql`seen > ${"2026-01-01"} and ${byName}`;
    const fragment = sql`select ${1} where ${recent} or ${byName} limit ${10}`;
    assert.deepEqual(compiled(fragment), [
      "select $1 where seen > $2 and name = $3 or name = $4 limit $5",
      [1, "2026-01-01", "Ada", "Ada", 10],
    ]);
    assert.deepEqual(compiled(byName), ["name = $1", ["Ada"]], "a fragment alone starts at $1");
  });

  it("pass null, booleans, bigints, dates, bytes, arrays and plain objects as parameters", () => {
    const bytes = new Uint8Array([1, 2]);
    const values = [null, true, 12n, new Date(0), bytes, [1, null, 3], { a: [1] }, -0.5, ""];
    const fragment = sql`select ${values[0]}, ${values[1]}, ${values[2]}, ${values[3]}, ${
      values[4]
    }, ${values[5]}, ${values[6]}, ${values[7]}, ${values[8]}`;
    assert.equal(fragment.text, "select $1, $2, $3, $4, $5, $6, $7, $8, $9");
    assert.deepEqual(fragment.values, values);
    assert.ok(fragment.values.every((value, i) => value === values[i]), "the very same values");
  });

  it("keep $1, quotes, semicolons and comments inside a value as the value", () => {
    const values = ["$1", "'; drop table users; --", '"x"', "$$ $tag$ \\ /* */ -- \n", "$2::int"];
    const fragment = sql`select ${values[0]}, ${values[1]} from t where a = ${values[2]} and b = ${
      values[3]
    } or c = ${values[4]}`;
    assert.deepEqual(compiled(fragment), [
      "select $1, $2 from t where a = $3 and b = $4 or c = $5",
      values,
    ]);
  });

  it("give values that cannot be changed afterwards", () => {
    const fragment = sql`select ${1}`;
    assert.ok(Object.isFrozen(fragment.values));
    assert.equal(fragment.values, fragment.values, "compiled once");
  });

  it("quote identifiers as PostgreSQL does, doubling double quotes, one part per name", () => {
    assert.equal(sql.identifier("users").text, '"users"');
    assert.equal(sql.identifier("public", "users").text, '"public"."users"');
    assert.equal(sql.identifier('we"ird', "Mixed Case").text, '"we""ird"."Mixed Case"');
    assert.equal(sql.identifier('"; drop table users; --').text, '"""; drop table users; --"');
    assert.equal(sql.identifier("a.b").text, '"a.b"', "a dot inside a part is part of the name");
    assert.deepEqual(sql.identifier("$1").values, []);
    const fragment = sql`select ${sql.identifier("t", "id")} from ${
      sql.identifier("t")
    } where id = ${"$1"}`;
    assert.deepEqual(compiled(fragment), ['select "t"."id" from "t" where id = $1', ["$1"]]);
  });

  it("join values and fragments with a comma, or with a separator fragment", () => {
    const columns = sql.join(["id", "name"].map((name) => sql.identifier(name)));
    const ids = sql.join([1, 2, 3]);
    assert.deepEqual(compiled(sql`select ${columns} from t where id in (${ids})`), [
      'select "id", "name" from t where id in ($1, $2, $3)',
      [1, 2, 3],
    ]);
    const conditions = sql.join([sql`a = ${"x"}`, sql`b = ${2}`, sql`c`], sql` and `);
    assert.deepEqual(compiled(sql`select ${0} where ${conditions}`), [
      "select $1 where a = $2 and b = $3 and c",
      [0, "x", 2],
    ]);
    assert.deepEqual(compiled(sql.join([sql`(${1}, ${"a"})`, sql`(${2}, ${"b"})`])), [
      "($1, $2), ($3, $4)",
      [1, "a", 2, "b"],
    ]);
    assert.deepEqual(compiled(sql.join([])), ["", []]);
    assert.deepEqual(compiled(sql.join(["only"], sql` or `)), ["$1", ["only"]]);
  });

  it("leave $1 written by hand alone when the statement has no parameters", () => {
    const body = sql`create function f(int) returns int as $$ select $1 + 1 $$ language sql`;
    assert.equal(
      body.text,
      "create function f(int) returns int as $$ select $1 + 1 $$ language sql",
    );
    assert.equal(sql`select ${sql.identifier("a$1")}`.text, 'select "a$1"');
    assert.equal(sql`select a$1 from t where x = ${1}`.text, "select a$1 from t where x = $1");
  });
});

describe("sql refuses", () => {
  it("a call that is not a tagged template, or a template with an invalid escape", () => {
    const call = sql as unknown as (...args: unknown[]) => SqlFragment;
    refuses(() => call("select 1"), "call sql as a tag");
    refuses(() => call(["select ", ""], 1), "strings must be a template's");
    refuses(() => call(strings(["select ", ""])), "strings must be a template's");
    const badEscape = Object.freeze(Object.assign([undefined], { raw: Object.freeze(["\\u{"]) }));
    refuses(() => call(badEscape), 'strings[0] has an invalid escape sequence: "\\\\u{"');
  });

  it("undefined, functions and symbols, naming the value and where it sits", () => {
    refuses(
      () => sql`select ${1}, ${undefined}`,
      'values[1] is undefined; pass null for NULL (the value after ", ")',
    );
    refuses(() => sql`select ${() => 1}`, "values[0] is a function");
    refuses(() => sql`select ${Symbol("s")}`, "values[0] is a symbol");
    refuses(() => sql`select ${[1, [2, undefined]]}`, "values[0][1][1] is undefined");
    refuses(() => sql.join([1, undefined]), "items[1] is undefined");
  });

  it("promises and SQL objects not made by this package, instead of sending them as values", () => {
    const cases: [unknown, string][] = [
      [Promise.resolve(1), "a promise or other thenable"],
      [{ then: () => {} }, "a promise or other thenable"],
      [{ toSQL: () => ({}) }, "an object with a toSQL() method"],
      [{ getSQL: () => ({}) }, "an object with a getSQL() method"],
      [{ compile: () => ({}) }, "an object with a compile() method"],
      [{ text: "select 1", values: [] }, "an object shaped like a query"],
      [{ sql: "select 1", parameters: [] }, "an object shaped like a query"],
      [{ strings: ["select 1"], values: [] }, "an object shaped like a query"],
      [{ [Symbol.for("@x/pool/sql-fragment")]: true }, "a fragment of another copy of @x/pool"],
      [Object.create(Object.getPrototypeOf(sql`x`)), "a fragment of another copy of @x/pool"],
    ];
    for (const [value, description] of cases) {
      refuses(() => sql`select ${value}`, `values[0] is ${description}`);
      refuses(() => sql.join([value]), `items[0] is ${description}`);
      refuses(() => sql`select ${[value]}`, `values[0][0] is ${description}`);
    }
  });

  it("a fragment inside an array, which would be sent as a value", () => {
    refuses(() => sql`select ${[sql`1`]}`, "values[0][0] is a fragment inside an array");
  });

  it("$1 written by hand in a statement that has parameters", () => {
    refuses(() => sql`select $1, ${2}`, '"select $1, " writes a $n parameter by hand');
    const fragment = sql`where a = $1`;
    refuses(() => sql`select ${1} ${fragment}`, "writes a $n parameter by hand");
    refuses(() => sql.join([fragment, 1]), "writes a $n parameter by hand");
  });

  it("identifiers that are missing, empty, not strings, or hold NUL", () => {
    const identifier = sql.identifier as (...names: unknown[]) => SqlFragment;
    refuses(() => identifier(), "sql.identifier() needs at least one name");
    refuses(() => identifier(""), 'names[0] must be a non-empty string without NUL, got ""');
    refuses(
      () => identifier("public", 1),
      "names[1] must be a non-empty string without NUL, got number",
    );
    refuses(
      () => identifier(sql`users`),
      "names[0] must be a non-empty string without NUL, got object",
    );
    refuses(() => identifier("a\0b"), "names[0] must be a non-empty string without NUL");
  });

  it("a join of something other than an array, or with a separator that is not a fragment", () => {
    const join = sql.join as (items: unknown, separator?: unknown) => SqlFragment;
    refuses(() => join("abc"), "items must be an array, got string");
    refuses(() => join([1, 2], ", "), 'separator must be a fragment such as sql`, `, got ", "');
    refuses(() => join([1, 2], { text: ", ", values: [] }), "separator must be a fragment");
  });
});

/** Values a template may carry; marked strings start with a character no literal piece holds. */
const MARK = "\u{1F4A1}";
const value = fc.oneof(
  fc.string({ unit: "binary" }).map((s) => `${MARK}${s}`),
  fc.constantFrom("$1", "$2", "'", '"', "; drop table x; --", "?", "\\", "$$", "${1}"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 4 }),
);

/** Where a value goes in the outer template: a value, or the inner fragment. */
type Slot = { value: unknown } | { inner: true };
const slot: fc.Arbitrary<Slot> = fc.oneof(
  value.map((v) => ({ value: v })),
  fc.constant({ inner: true as const }),
);

/** Literal pieces: SQL-ish text without `$`. */
const piece = fc.string({ unit: fc.constantFrom(..."select *,()=' \"\n;-ab") });

/** An outer template over `slots`, with an inner fragment over `inner`; `map` replaces each value. */
function nested(
  pieces: readonly string[],
  slots: readonly Slot[],
  inner: readonly unknown[],
  map: (value: unknown) => unknown,
): SqlFragment {
  const fragment = sql(strings([...inner.map(() => " x = "), " end"]), ...inner.map(map));
  const values = slots.map((s) => "inner" in s ? fragment : map(s.value));
  return sql(strings(pieces.slice(0, values.length + 1)), ...values);
}

describe("no value changes the text", () => {
  it("holds for random values in random nested templates", () => {
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 9, maxLength: 9 }),
        fc.array(slot, { maxLength: 8 }),
        fc.array(value, { maxLength: 4 }),
        (pieces, slots, inner) => {
          const fragment = nested(pieces, slots, inner, (v) => v);
          assert.equal(fragment.text, nested(pieces, slots, inner, () => 0).text);
          const expected = slots.flatMap((s) => "inner" in s ? inner : [s.value]);
          assert.equal(fragment.values.length, expected.length);
          assert.ok(fragment.values.every((v, i) => Object.is(v, expected[i])));
          const numbers = [...fragment.text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]));
          assert.deepEqual(numbers, expected.map((_, i) => i + 1));
          for (const v of expected) {
            if (typeof v === "string" && v.startsWith(MARK)) assert.ok(!fragment.text.includes(v));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
