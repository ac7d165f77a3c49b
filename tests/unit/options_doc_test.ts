/**
 * The defaults written in the doc comments of `PoolOptions` (which `deno doc`
 * shows and the README's table is generated from) are the ones the resolver
 * fills in, so the documentation and the code cannot drift apart.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { PoolOptions } from "../../src/config.ts";
import { type ResolvedPoolOptions, resolvePoolOptions } from "../../src/_core/options.ts";
import { type DocumentedOption, parsePoolOptions } from "../../tools/_options_doc.ts";
import { FakeDriver } from "../support/fake_driver.ts";

const source = readFileSync(new URL("../../src/config.ts", import.meta.url), "utf8");
const documented = parsePoolOptions(source);
const driver = new FakeDriver();
const resolved = resolvePoolOptions({ driver });

/**
 * The value of a documented default: a literal, or an expression over other
 * options' resolved values (`maxOpenConns`, `connMaxLifetime / 10`).
 */
function evaluate(expression: string, options: ResolvedPoolOptions): unknown {
  const known: Record<string, unknown> = { true: true, false: false, undefined, Infinity };
  if (expression in known) return known[expression];
  if (/^\d[\d_]*$/.test(expression)) return Number(expression.replaceAll("_", ""));
  if (/^"[^"]*"$/.test(expression)) return JSON.parse(expression);
  const option = /^(\w+)(?: \/ (\d+))?$/.exec(expression);
  if (option !== null && option[1] in options) {
    const value = options[option[1] as keyof ResolvedPoolOptions];
    return option[2] === undefined ? value : (value as number) / Number(option[2]);
  }
  throw new Error(`Cannot read the documented default {${expression}}`);
}

function byName(name: string): DocumentedOption {
  const option = documented.find((candidate) => candidate.name === name);
  assert.ok(option, `PoolOptions documents ${name}`);
  return option;
}

describe("the doc comments of PoolOptions", () => {
  it("name exactly the options the resolver fills in", () => {
    assert.ok(documented.length >= 20, `read ${documented.length} options from src/config.ts`);
    assert.deepEqual(
      documented.map((option) => option.name).sort(),
      Object.keys(resolved).sort(),
    );
  });

  it("give every optional option a @default tag, and say a required one is required", () => {
    for (const option of documented) {
      if (option.optional) {
        assert.ok(option.defaultValue, `${option.name} has a @default {value} tag`);
      } else {
        assert.equal(option.defaultValue, undefined, `${option.name} is required: no default`);
        assert.match(option.summary, /Required\./, `${option.name} says it is required`);
      }
    }
  });

  for (const option of documented.filter((candidate) => candidate.optional)) {
    it(`give ${option.name} the default the resolver fills in`, () => {
      const expected = evaluate(option.defaultValue!, resolved);
      assert.equal(
        resolved[option.name as keyof ResolvedPoolOptions],
        expected,
        `${option.name}: documented as @default {${option.defaultValue}}`,
      );
    });
  }

  it("give defaults that follow the options they derive from, as the resolver does", () => {
    const options = resolvePoolOptions({ driver, maxOpenConns: 3, connMaxLifetime: 60_000 });
    for (const name of ["maxIdleConns", "connMaxLifetimeJitter"]) {
      assert.equal(
        options[name as keyof ResolvedPoolOptions],
        evaluate(byName(name).defaultValue!, options),
      );
    }
  });

  it("put in milliseconds exactly the options the resolver checks as durations", () => {
    for (const option of documented.filter((candidate) => candidate.type === "number")) {
      assert.throws(
        () => resolvePoolOptions({ driver, [option.name]: "1" } as PoolOptions),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          const duration = error.message.includes("milliseconds");
          assert.equal(duration, option.unit === "ms", `${option.name}: ${error.message}`);
          return true;
        },
      );
    }
  });
});
