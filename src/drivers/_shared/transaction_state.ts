/** A plain COMMIT/END/ROLLBACK/ABORT, which ends the transaction for good. */
const ENDS_TRANSACTION =
  /^(?:commit|end|rollback|abort)(?:\s+(?:work|transaction))?(?:\s+and\s+no\s+chain)?\s*;?$/i;
const SQL_COMMENTS = /--[^\n]*|\/\*[\s\S]*?\*\//g;

/**
 * Whether a transaction is open after a statement succeeded, from whether one
 * was before, the statement's text and its command tag.
 */
export function transactionOpenAfter(
  open: boolean,
  text: string,
  command: string | undefined,
): boolean {
  if (command === "BEGIN" || command === "START TRANSACTION") return true;
  if (command === "COMMIT" || command === "ROLLBACK") {
    // Same tags for ROLLBACK TO SAVEPOINT and ... AND CHAIN, which keep the
    // transaction open; anything not plainly ending it counts as open.
    return !ENDS_TRANSACTION.test(text.replace(SQL_COMMENTS, " ").trim());
  }
  if (command === "PREPARE TRANSACTION") return false;
  return open;
}
