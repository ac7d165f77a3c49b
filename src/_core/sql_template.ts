/**
 * Tagged templates to statements: the fragments `sql`, `sql.identifier` and
 * `sql.join` make, and the compiler that turns a template into text with
 * `$1`, `$2`, ... and the values those stand for. A value never becomes
 * text: only the template's own literal pieces and quoted identifiers do.
 *
 * @module
 */

import type { QueryResult } from "../driver.ts";

/** A fragment's contents, checked when it was made. */
interface Pieces {
  /** The literal text around the values; one more than there are values. */
  readonly strings: readonly string[];
  /** Values, and fragments to splice in. */
  readonly values: readonly unknown[];
  /** A literal piece, its own or a spliced fragment's, that writes a `$1`-style parameter by hand. */
  readonly handWritten: string | undefined;
  /** How many parameters the pieces compile to. */
  readonly paramCount: number;
}

/** A compiled statement. */
interface Statement {
  text: string;
  params: unknown[];
}

/**
 * Marks the fragments of every copy of this module, so that one made by
 * another copy of the package (another version, say) is refused rather than
 * sent as a parameter.
 */
const BRAND = Symbol.for("@x/pool/sql-fragment");

/** `$` and a digit not inside a name: a positional parameter written by hand. */
const HAND_WRITTEN = /(?<![\p{L}\p{N}_$])\$\d/u;

/** Methods whose presence says a value is SQL of some other library, or a promise. */
const SQL_METHODS = ["then", "toSQL", "getSQL", "compile"] as const;

/** A piece of SQL made by `sql`, `sql.identifier` or `sql.join`; see `SqlFragment`. */
export class Fragment {
  readonly #pieces: Pieces;
  #compiled: Statement | undefined;

  constructor(pieces: Pieces) {
    this.#pieces = pieces;
  }

  get [BRAND](): true {
    return true;
  }

  get text(): string {
    return this.#statement().text;
  }

  get values(): readonly unknown[] {
    return this.#statement().params;
  }

  /** The contents of `value` when it is a fragment of this copy of the module. */
  static piecesOf(value: unknown): Pieces | undefined {
    return typeof value === "object" && value !== null && #pieces in value
      ? value.#pieces
      : undefined;
  }

  #statement(): Statement {
    if (this.#compiled === undefined) {
      const { text, params } = compile(this.#pieces);
      this.#compiled = { text, params: Object.freeze(params) as unknown[] };
    }
    return this.#compiled;
  }
}

/**
 * Checks a tagged template's arguments and returns them as pieces.
 *
 * @throws {TypeError} Not called as a tag, or a value that cannot be a parameter.
 */
function templatePieces(strings: TemplateStringsArray, values: readonly unknown[]): Pieces {
  // A template's strings are frozen and carry `raw`: a plain string or a built array is not one.
  if (
    !Array.isArray(strings) || !Object.isFrozen(strings) || !Array.isArray(strings.raw) ||
    strings.length !== values.length + 1
  ) {
    throw new TypeError(
      `Cannot build SQL: strings must be a template's, so call sql as a tag (sql\`select ...\`), not as a function; got ${
        Array.isArray(strings) ? "an array" : typeof strings
      }`,
    );
  }
  let handWritten: string | undefined;
  for (let i = 0; i < strings.length; i++) {
    const piece: string | undefined = strings[i];
    if (piece === undefined) {
      throw new TypeError(
        `Cannot build SQL: strings[${i}] has an invalid escape sequence: ${
          JSON.stringify(strings.raw[i])
        }`,
      );
    }
    if (handWritten === undefined && HAND_WRITTEN.test(piece)) handWritten = piece;
  }
  for (let i = 0; i < values.length; i++) {
    checkValue(values[i], "values", i, strings[i]);
  }
  return piecesOf(strings, values, handWritten);
}

/** The end of a literal piece, to say where a value sits. */
function tail(piece: string): string {
  return JSON.stringify(piece.length > 24 ? `...${piece.slice(-24)}` : piece);
}

/**
 * Refuses a value that cannot be a parameter, or that looks like SQL this
 * module did not make: sending it as a value would not do what was meant.
 * `name[index]` is the argument; `after`, the template's text before it.
 */
function checkValue(value: unknown, name: string, index: number, after?: string): void {
  if (Fragment.piecesOf(value) !== undefined) return;
  const refusal = refusalOf(value);
  if (refusal === undefined) return;
  const where = after === undefined ? "" : ` (the value after ${tail(after)})`;
  throw new TypeError(`Cannot build SQL: ${name}[${index}]${refusal}${where}`);
}

/**
 * Why `value` cannot be a parameter, as the end of a sentence about it (an
 * element of an array is named by its index); undefined when it can be one.
 */
function refusalOf(value: unknown): string | undefined {
  if (value === undefined) return " is undefined; pass null for NULL";
  if (typeof value === "function" || typeof value === "symbol") {
    return ` is a ${typeof value}, not a value`;
  }
  if (typeof value !== "object" || value === null) return undefined;
  // Only an array's elements get here as fragments: the caller splices its own.
  if (Fragment.piecesOf(value) !== undefined) {
    return " is a fragment inside an array, which would be sent as a value; splice a list with sql.join()";
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const refusal = refusalOf(value[i]);
      if (refusal !== undefined) return `[${i}]${refusal}`;
    }
    return undefined;
  }
  const foreign = foreignSql(value);
  return foreign === undefined
    ? undefined
    : ` is ${foreign}; only sql\`...\`, sql.identifier() and sql.join() splice SQL`;
}

/** What makes `value` look like SQL or a pending result rather than a value, if anything. */
function foreignSql(value: object): string | undefined {
  if (BRAND in value) return "a fragment of another copy of @x/pool";
  const fields = value as Record<string, unknown>;
  for (const method of SQL_METHODS) {
    if (typeof fields[method] !== "function") continue;
    return method === "then"
      ? "a promise or other thenable (await it first)"
      : `an object with a ${method}() method, like another library's SQL`;
  }
  if (
    ("text" in value || "sql" in value || "strings" in value) &&
    ("values" in value || "parameters" in value || "params" in value)
  ) return "an object shaped like a query (text or sql, and values)";
  return undefined;
}

/**
 * Makes a fragment of a tagged template.
 *
 * @throws {TypeError} Not called as a tag, or a value that cannot be a parameter.
 */
export function template(strings: TemplateStringsArray, values: readonly unknown[]): Fragment {
  return new Fragment(templatePieces(strings, values));
}

/**
 * Makes the fragment of a quoted name, its parts joined by dots, each quoted
 * as PostgreSQL quotes an identifier: in double quotes, with each double
 * quote doubled.
 *
 * @throws {TypeError} No part, or a part that is not a non-empty string without NUL.
 */
export function identifier(names: readonly unknown[]): Fragment {
  if (names.length === 0) {
    throw new TypeError("Cannot build SQL: sql.identifier() needs at least one name");
  }
  const quoted = names.map((name, i) => {
    if (typeof name !== "string" || name === "" || name.includes("\0")) {
      throw new TypeError(
        `Cannot build SQL: names[${i}] must be a non-empty string without NUL, got ${
          typeof name === "string" ? JSON.stringify(name) : typeof name
        }`,
      );
    }
    return `"${name.replaceAll('"', '""')}"`;
  });
  return new Fragment({
    strings: [quoted.join(".")],
    values: [],
    handWritten: undefined,
    paramCount: 0,
  });
}

/**
 * Makes the fragment of `items` one after the other, `separator` between
 * them: fragments spliced in, other items as parameters.
 *
 * @throws {TypeError} `items` not an array, an item that cannot be a
 * parameter, or a `separator` that is not a fragment.
 */
export function join(items: readonly unknown[], separator: unknown): Fragment {
  if (!Array.isArray(items)) {
    throw new TypeError(`Cannot build SQL: items must be an array, got ${typeof items}`);
  }
  if (Fragment.piecesOf(separator) === undefined) {
    throw new TypeError(
      `Cannot build SQL: separator must be a fragment such as sql\`, \`, got ${
        typeof separator === "string" ? JSON.stringify(separator) : typeof separator
      }`,
    );
  }
  const values: unknown[] = [];
  items.forEach((item, i) => {
    checkValue(item, "items", i);
    if (i > 0) values.push(separator);
    values.push(item);
  });
  const strings = new Array<string>(values.length + 1).fill("");
  return new Fragment(piecesOf(strings, values, undefined));
}

/**
 * Completes checked strings and values into pieces, counting the parameters.
 *
 * @throws {TypeError} A `$1` written by hand, here or in a spliced fragment,
 * in pieces that have parameters: it would clash with the numbering.
 */
function piecesOf(
  strings: readonly string[],
  values: readonly unknown[],
  handWritten: string | undefined,
): Pieces {
  let paramCount = 0;
  for (const value of values) {
    const inner = Fragment.piecesOf(value);
    if (inner === undefined) {
      paramCount++;
    } else {
      paramCount += inner.paramCount;
      handWritten ??= inner.handWritten;
    }
  }
  if (handWritten !== undefined && paramCount > 0) {
    throw new TypeError(
      `Cannot build SQL: the text ${
        JSON.stringify(handWritten)
      } writes a $n parameter by hand, which would clash with the numbering of the statement's ${paramCount} parameters; interpolate the value instead`,
    );
  }
  return { strings, values, handWritten, paramCount };
}

/** Compiles `pieces` into one statement, numbering the parameters from `$1`. */
function compile(pieces: Pieces): Statement {
  const statement: Statement = { text: "", params: [] };
  append(statement, pieces);
  return statement;
}

/** Appends `pieces` to `statement`. */
function append(statement: Statement, { strings, values }: Pieces): void {
  for (let i = 0; i < values.length; i++) {
    statement.text += strings[i];
    const value = values[i];
    const inner = Fragment.piecesOf(value);
    if (inner !== undefined) {
      append(statement, inner);
    } else {
      statement.params.push(value);
      statement.text += `$${statement.params.length}`;
    }
  }
  statement.text += strings[values.length];
}

/**
 * Compiles a tagged template and runs it with `execute`, resolving to its
 * rows carrying `rowCount` and `command`. Rejects, never throws.
 */
export function runTemplate<Row>(
  execute: (text: string, params: readonly unknown[]) => Promise<QueryResult<Row>>,
  strings: TemplateStringsArray,
  values: readonly unknown[],
): Promise<Row[] & { readonly rowCount: number; readonly command: string }> {
  let statement: Statement;
  try {
    statement = compile(templatePieces(strings, values));
  } catch (error) {
    return Promise.reject(error);
  }
  return execute(statement.text, statement.params).then(withCounts);
}

/** The rows of `result`, carrying its row count and command tag. */
function withCounts<Row>(
  result: QueryResult<Row>,
): Row[] & { readonly rowCount: number; readonly command: string } {
  // The drivers answer a fresh array; a driver of one's own may answer a frozen one.
  const rows = Object.isExtensible(result.rows) ? result.rows : [...result.rows];
  // Not enumerable, so the rows compare equal to a plain array of them.
  return Object.defineProperties(rows, {
    rowCount: { value: result.rowCount, configurable: true },
    command: { value: result.command, configurable: true },
  }) as Row[] & { readonly rowCount: number; readonly command: string };
}
