import type postgres from "postgres";

/** An element type's OID and its array type's OID. */
export type ArrayType = readonly [element: number, array: number];

/** Every array type's element OID and array OID, read as {@linkcode arrayTypesFrom} expects. */
export const FETCH_ARRAY_TYPES = `
  select b.oid as element, b.typarray as array
  from pg_catalog.pg_type a
  join pg_catalog.pg_type b on b.oid = a.typelem
  where a.typcategory = 'A' and b.typarray <> 0
  group by b.oid, b.typarray
  order by b.oid`;

/** The array types in the rows of {@linkcode FETCH_ARRAY_TYPES}. */
export function arrayTypesFrom(rows: readonly postgres.Row[]): ArrayType[] {
  return Array.from(rows, (row): ArrayType => [Number(row.element), Number(row.array)]);
}

/**
 * Gives one postgres.js instance parsers and serializers for the array types,
 * as its own type fetch would, but parsing `NULL` elements as `null`. Handlers
 * the caller configured through `types` are kept.
 */
export function installArrayTypes(
  { parsers, serializers }: Pick<postgres.ParsedOptions, "parsers" | "serializers">,
  types: readonly ArrayType[],
): void {
  for (const [element, array] of types) {
    if (parsers[array] && serializers[array]) continue;
    const parse = parsers[element];
    const serialize = serializers[element];
    // Only box[] (OID 1020) separates its elements with ';'.
    const delimiter = array === 1020 ? ";" : ",";
    parsers[array] = (text: string) => parseArray(text, parse, delimiter);
    serializers[array] = (value: unknown) => serializeArray(value, serialize, delimiter);
  }
}

/** Parses an array's text form, such as `{1,NULL,"a \"b\""}` or `[0:1]={1,2}`. */
function parseArray(
  text: string,
  parse: ((value: string) => unknown) | undefined,
  delimiter: string,
): unknown[] {
  let i = text.indexOf("{");
  const read = (): unknown[] => {
    const items: unknown[] = [];
    i++;
    while (i < text.length) {
      const char = text[i];
      if (char === "}") {
        i++;
        return items;
      } else if (char === delimiter) {
        i++;
      } else if (char === "{") {
        items.push(read());
      } else if (char === '"') {
        let value = "";
        for (i++; i < text.length && text[i] !== '"'; i++) {
          if (text[i] === "\\") i++;
          value += text[i];
        }
        i++;
        items.push(parse ? parse(value) : value);
      } else {
        let end = i;
        while (
          end < text.length && text[end] !== delimiter && text[end] !== "}"
        ) end++;
        const value = text.slice(i, end);
        i = end;
        items.push(value === "NULL" ? null : parse ? parse(value) : value);
      }
    }
    return items;
  };
  return read();
}

/** Serializes a JS array as an array literal; passes anything else through. */
function serializeArray(
  value: unknown,
  serialize: ((value: unknown) => unknown) | undefined,
  delimiter: string,
): unknown {
  if (!Array.isArray(value)) return value;
  const items = value.map((item): string => {
    if (Array.isArray(item)) {
      return serializeArray(item, serialize, delimiter) as string;
    }
    if (item === null) return "NULL";
    if (item === undefined) {
      // postgres.js's code for an undefined parameter: not a broken socket.
      throw Object.assign(
        new TypeError(
          "Cannot serialize an array parameter: it contains undefined, use null",
        ),
        { code: "UNDEFINED_VALUE" },
      );
    }
    const text = String(serialize ? serialize(item) : item);
    return `"${text.replace(/[\\"]/g, "\\$&")}"`;
  });
  return `{${items.join(delimiter)}}`;
}
