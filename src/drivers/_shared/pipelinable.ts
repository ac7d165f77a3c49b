/** A leading run of white space and SQL comments. */
const LEADING = /^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/;
/** The statements that may share a connection: reads and single-row-set writes. */
const FIRST_WORDS = new Set(["select", "insert", "update", "delete", "with", "values", "table"]);

/**
 * Whether a statement may be pipelined: one statement (no `;` but a
 * trailing one) whose first word is `select`, `insert`, `update`, `delete`,
 * `with`, `values` or `table`. Those run in autocommit and cannot open a
 * transaction; `begin`, `set`, `lock`, `declare`, `listen`, `prepare` and
 * the rest, which open a transaction or change what the next statement on
 * the session sees, get a connection of their own. A function a `select`
 * calls can still change the session (`set_config(..., false)`,
 * `pg_advisory_lock`); that reaches the statements after it, pipelined or
 * not, as it reaches the next borrower of the connection.
 */
export function pipelinable(text: string): boolean {
  let known = verdicts.get(text);
  if (known === undefined) {
    // Applications run the same texts again and again; dynamic ones must not grow this.
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(text, known = judge(text));
  }
  return known;
}

/** Statement texts seen lately, and whether each may be pipelined. */
const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 512;

function judge(text: string): boolean {
  // A text that starts with a letter skips the regex.
  const start = isLetter(text.charCodeAt(0)) ? 0 : LEADING.exec(text)![0].length;
  let end = start;
  while (end < text.length && isLetter(text.charCodeAt(end))) end++;
  if (end - start < 4 || end - start > 6) return false;
  if (!FIRST_WORDS.has(text.slice(start, end).toLowerCase())) return false;
  const semicolon = text.indexOf(";", end);
  return semicolon === -1 || text.slice(semicolon + 1).trim() === "";
}

function isLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x7a;
}
