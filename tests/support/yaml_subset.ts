/**
 * A parser for the plain subset of YAML that the alerting rules are written
 * in (there is no YAML package here): block mappings and block sequences by
 * indentation (spaces only), `- key: value` items, and one scalar per line,
 * plain, 'single-quoted' or "double-quoted". Comment lines are skipped.
 * Anything else (flow collections, block scalars, anchors, tags, a comment
 * after a value, a tab) is refused with its line number, so a rules file
 * that strays from the subset fails its test instead of being misread.
 *
 * @module
 */

/** A parsed value: a string, a list, or a map. */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  number: number;
  indent: number;
  text: string;
}

/** Parses `source`; throws naming the line on anything outside the subset. */
export function parseYamlSubset(source: string): YamlValue {
  const lines: Line[] = [];
  source.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) throw new SyntaxError(`line ${i + 1}: a tab`);
    const text = raw.trimEnd();
    const trimmed = text.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    lines.push({ number: i + 1, indent: text.length - trimmed.length, text: trimmed });
  });
  if (lines.length === 0) throw new SyntaxError("no content");
  const cursor = { at: 0 };
  const value = block(lines, cursor, lines[0].indent);
  if (cursor.at < lines.length) {
    throw new SyntaxError(`line ${lines[cursor.at].number}: unexpected indentation`);
  }
  return value;
}

/** The block starting at `lines[cursor.at]`, whose lines are indented `indent`. */
function block(lines: Line[], cursor: { at: number }, indent: number): YamlValue {
  return lines[cursor.at].text.startsWith("- ")
    ? sequence(lines, cursor, indent)
    : mapping(lines, cursor, indent);
}

function sequence(lines: Line[], cursor: { at: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (cursor.at < lines.length && lines[cursor.at].indent === indent) {
    const line = lines[cursor.at];
    if (!line.text.startsWith("- ")) throw new SyntaxError(`line ${line.number}: expected "- "`);
    // The item's first entry, as if on a line of its own two columns in.
    lines[cursor.at] = { number: line.number, indent: indent + 2, text: line.text.slice(2) };
    items.push(block(lines, cursor, indent + 2));
  }
  return items;
}

function mapping(lines: Line[], cursor: { at: number }, indent: number): Record<string, YamlValue> {
  const map: Record<string, YamlValue> = {};
  while (cursor.at < lines.length && lines[cursor.at].indent === indent) {
    const line = lines[cursor.at++];
    const match = /^([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$/.exec(line.text);
    if (match === null) throw new SyntaxError(`line ${line.number}: expected "key: value"`);
    const [, key, rest] = match;
    if (key in map) throw new SyntaxError(`line ${line.number}: "${key}" given twice`);
    if (rest !== undefined) {
      map[key] = scalar(rest, line.number);
      continue;
    }
    const next = lines[cursor.at];
    if (next === undefined || next.indent <= indent) {
      throw new SyntaxError(`line ${line.number}: "${key}" has no value`);
    }
    map[key] = block(lines, cursor, next.indent);
  }
  return map;
}

function scalar(text: string, number: number): string {
  if (text.startsWith("'")) {
    const match = /^'((?:[^']|'')*)'$/.exec(text);
    if (match === null) throw new SyntaxError(`line ${number}: bad single-quoted string`);
    return match[1].replaceAll("''", "'");
  }
  if (text.startsWith('"')) {
    try {
      return JSON.parse(text);
    } catch {
      throw new SyntaxError(`line ${number}: bad double-quoted string`);
    }
  }
  if (/^[[\]{}&*!|>%@`#,?:-]/.test(text) || text.includes(" #") || text.includes(": ")) {
    throw new SyntaxError(`line ${number}: a plain scalar outside the subset: ${text}`);
  }
  return text;
}
