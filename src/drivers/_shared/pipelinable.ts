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
  const start = LEADING.exec(text)![0].length;
  let end = start;
  while (end < text.length) {
    const code = text.charCodeAt(end) | 0x20;
    if (code < 0x61 || code > 0x7a) break; // Not a letter.
    end++;
  }
  if (!FIRST_WORDS.has(text.slice(start, end).toLowerCase())) return false;
  const semicolon = text.indexOf(";", end);
  return semicolon === -1 || text.slice(semicolon + 1).trim() === "";
}
