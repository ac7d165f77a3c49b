/**
 * The `pooler` option both drivers take, and its one check, so that both
 * refuse the same values with the same words.
 *
 * @module
 */

/** A pooler the drivers know how to work behind. */
export type Pooler = "transaction";

const POOLERS: readonly unknown[] = ["transaction"] satisfies Pooler[];

/**
 * Returns a driver's `pooler` option once checked: `"transaction"`, or
 * `undefined` when left out. Anything else is a `TypeError` naming the
 * value, with the reason for the two values a reader would try next.
 *
 * @param pooler The option as given.
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function checkPooler(pooler: unknown, driver: string): Pooler | undefined {
  if (pooler === undefined || POOLERS.includes(pooler)) return pooler as Pooler | undefined;
  const why = pooler === "statement"
    ? " (statement pooling cannot run the pool's transactions)"
    : pooler === "session"
    ? " (a session pooler needs no option)"
    : "";
  const shown = typeof pooler === "string" ? `"${pooler}"` : String(pooler);
  throw new TypeError(
    `Cannot create the ${driver} driver: pooler must be "transaction" or left out, got ${shown}${why}`,
  );
}
