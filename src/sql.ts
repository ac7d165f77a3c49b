/**
 * SQL as tagged templates: `pool.sql`, `conn.sql` and `tx.sql` run one, and
 * {@linkcode sql} makes a fragment to splice into another. Every `${value}`
 * becomes a parameter (`$1`, `$2`, ...), never text; see `docs/sql.md`.
 *
 * @module
 */

import { identifier, join, template } from "./_core/sql_template.ts";

/**
 * What `pool.sql`, `conn.sql` and `tx.sql` resolve to: the rows, as an
 * array, carrying the statement's row count and command tag. The two extra
 * properties are not enumerable, so the array compares equal to a plain
 * array of the same rows.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver, type SqlResult } from "@x/pool";
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const users: SqlResult<{ id: number; name: string }> = await pool.sql`select id, name from users`;
 * console.log(users.length, users.rowCount, users.command); // 2 2 "SELECT"
 * ```
 */
export type SqlResult<Row = Record<string, unknown>> = Row[] & {
  /** The number of rows returned or affected, as the server reported it. */
  readonly rowCount: number;
  /** The command tag's verb, such as `"SELECT"`, `"INSERT"` or `"UPDATE"`. */
  readonly command: string;
};

/**
 * A piece of SQL made by {@linkcode sql}, `sql.identifier` or `sql.join`,
 * not yet run. Interpolated into a template, its text is spliced in and its
 * values become parameters of the whole statement, numbered in order. Only
 * fragments made by this package are spliced: an object that merely has the
 * same shape is refused.
 *
 * @example Running a fragment with a signal and a timeout
 * ```ts
 * import { ConnectionPool, postgresDriver, sql } from "@x/pool";
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const query = sql`select * from users where id = ${1}`;
 * console.log(query.text, query.values); // "select * from users where id = $1" [1]
 * await pool.execute(query.text, query.values, { timeout: 2_000 });
 * ```
 */
export interface SqlFragment {
  /** The fragment compiled alone: its text, with its values as `$1`, `$2`, ... */
  readonly text: string;
  /** The values of `$1`, `$2`, ... in `text`, in order. */
  readonly values: readonly unknown[];
}

/**
 * The type of {@linkcode sql}: a tag that makes fragments, with helpers for
 * names and lists.
 *
 * @example
 * ```ts
 * import { sql, type SqlBuilder } from "@x/pool";
 *
 * const build: SqlBuilder = sql;
 * const where = build`where ${build.identifier("name")} = ${"Ada"}`;
 * ```
 */
export interface SqlBuilder {
  /**
   * Makes a fragment of a tagged template, without running it. Each
   * `${value}` becomes a parameter; each fragment is spliced in.
   *
   * @throws {TypeError} Not called as a tag; a value that is `undefined`, a
   * function, a symbol, a promise, or SQL of another library or another
   * copy of this package; or `$1` written by hand in a statement that has
   * parameters.
   *
   * @example
   * ```ts
   * import { sql } from "@x/pool";
   *
   * const active = sql`active and last_seen > ${new Date("2026-01-01")}`;
   * const query = sql`select id from users where ${active} and name = ${"Ada"}`;
   * console.log(query.text); // "select id from users where active and last_seen > $1 and name = $2"
   * ```
   */
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment;
  /**
   * Makes the fragment of a table or column name, quoted as PostgreSQL
   * quotes an identifier: in double quotes, each `"` doubled. Several parts
   * make a qualified name, each part quoted: `identifier("public", "users")`
   * is `"public"."users"`. Quoted names are case-sensitive.
   *
   * @throws {TypeError} No name, or a name that is not a non-empty string
   * without a NUL character.
   *
   * @example
   * ```ts
   * import { sql } from "@x/pool";
   *
   * const table = sql.identifier("public", 'odd"name');
   * console.log(sql`select * from ${table}`.text); // select * from "public"."odd""name"
   * ```
   */
  identifier(...names: string[]): SqlFragment;
  /**
   * Makes the fragment of `items` one after the other, `separator` between
   * them: fragments are spliced in, other items become parameters. An empty
   * list makes an empty fragment.
   *
   * @param items The values and fragments.
   * @param separator A fragment, by default ``sql`, ` ``; a string is refused.
   * @throws {TypeError} `items` not an array, an item refused as by `sql`,
   * or a `separator` that is not a fragment.
   *
   * @example
   * ```ts
   * import { sql } from "@x/pool";
   *
   * const columns = sql.join(["id", "name"].map((name) => sql.identifier(name)));
   * const query = sql`select ${columns} from users where id in (${sql.join([1, 2, 3])})`;
   * console.log(query.text); // select "id", "name" from users where id in ($1, $2, $3)
   * ```
   */
  join(items: readonly unknown[], separator?: SqlFragment): SqlFragment;
}

function tag(strings: TemplateStringsArray, ...values: unknown[]): SqlFragment {
  return template(strings, values);
}

const COMMA = tag`, `;

/**
 * Makes SQL fragments: a tag for templates (see {@linkcode SqlBuilder}),
 * `sql.identifier` for quoted names and `sql.join` for lists. A fragment
 * runs only when interpolated into `pool.sql`, `conn.sql` or `tx.sql`, or
 * passed as `pool.execute(fragment.text, fragment.values)`.
 *
 * @example
 * ```ts
 * import { ConnectionPool, postgresDriver, sql } from "@x/pool";
 *
 * await using pool = new ConnectionPool({ driver: postgresDriver(Deno.env.get("DATABASE_URL")!) });
 * const table = sql.identifier("public", "users");
 * const byName = (name: string) => sql`name = ${name}`;
 * const rows = await pool.sql<{ id: number }>`select id from ${table} where ${byName("Ada")}`;
 * ```
 */
export const sql: SqlBuilder = Object.assign(tag, {
  identifier: (...names: string[]): SqlFragment => identifier(names),
  join: (items: readonly unknown[], separator: SqlFragment = COMMA): SqlFragment =>
    join(items, separator),
});
