/**
 * How a Drizzle statement runs on the pool: its parameters as the drivers
 * must see them, and its rows in the shape Drizzle maps from.
 *
 * @module
 */

import { Column, is, SQL } from "drizzle-orm";
import type { RemoteCallback } from "drizzle-orm/pg-proxy";
import type { ExecuteOptions } from "../connection.ts";
import type { QueryResult } from "../driver.ts";

/** Where a statement runs: the pool, or an open transaction. */
export interface Executor {
  execute(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult>;
}

/** What Drizzle selects, in order: one output column each. */
export type Fields = readonly { field: unknown }[];

/** The name of the query that renames a statement's columns by position. */
const RENAMED = `"x_pool_columns"`;
/** A property name that objects order before the others, by number. */
const INDEX_LIKE = /^(?:0|[1-9]\d*)$/;

/**
 * Runs Drizzle's statements on `executor`. Drizzle asks for `"all"` when it
 * maps rows by position, as arrays of values in the order of `fields`
 * (`undefined` for a relational query, whose columns are named apart), and
 * for `"execute"` when it returns the rows as they are.
 */
export function runOn(executor: Executor, fields: Fields | undefined): RemoteCallback {
  return async (text, params, method, typings) => {
    const values = typings === undefined ? params : params.map((value, i) => {
      return typings[i] === "json" && typeof value === "string" ? jsonParam(value) : value;
    });
    if (method !== "all") return { rows: (await executor.execute(text, values)).rows };
    if (fields === undefined || !mayShareNames(fields)) {
      // Drivers build each row's properties in the order of its columns.
      const { rows } = await executor.execute(text, values);
      return { rows: rows.map((row) => Object.values(row)) };
    }
    // A row object keeps one value per name; joins select `"users"."id"` and
    // `"posts"."id"` alike. Naming the columns by position keeps them all.
    const names = fields.map((_, i) => `c${i}`);
    const renamed = `with ${RENAMED} as (${text}) select * from ${RENAMED} as ${RENAMED}(${
      names.map((name) => `"${name}"`).join(", ")
    })`;
    const { rows } = await executor.execute(renamed, values);
    return { rows: rows.map((row) => names.map((name) => row[name])) };
  };
}

/**
 * Whether two of `fields` may come back under one name, or a name may not
 * keep its place among a row's properties. Column names are compared
 * without case and underscores, as a `casing` option may turn `authorId`
 * into `author_id`; an expression without an alias has a name only the
 * server knows.
 */
function mayShareNames(fields: Fields): boolean {
  if (fields.length < 2) return false;
  const seen = new Set<string>();
  for (const { field } of fields) {
    const name = is(field, Column)
      ? field.name
      : is(field, SQL.Aliased)
      ? field.fieldAlias
      : undefined;
    if (name === undefined || INDEX_LIKE.test(name)) return true;
    const key = name.toLowerCase().replaceAll("_", "");
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

/**
 * A JSON parameter as the drivers serialise it. Drizzle sends a `json` or
 * `jsonb` value as its JSON text, which postgres.js and Bun.SQL would encode
 * once more, storing a JSON string; an object whose `toJSON` gives back the
 * value is encoded to that same text.
 */
function jsonParam(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not Drizzle's encoding (a custom type's, say): the driver gets it as it is.
    return text;
  }
  return { toJSON: () => value };
}
