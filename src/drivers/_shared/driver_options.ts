/**
 * What both drivers do alike with their options: merge a URL's (or an
 * options object's) with the driver options, refuse the ones the pool owns,
 * and check `pooler`, so that both refuse the same things in the same words.
 *
 * @module
 */

/**
 * `base` (parsed from the URL, or the options object) with `extra` over it,
 * the `connection` parameters of both merged; throws a `TypeError` for any
 * of `owned`, whose lifetime-related settings the pool owns.
 *
 * @param driver The driver's name in the error: `"postgres"`, `"Bun.SQL"`.
 */
export function mergeOptions(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
  owned: readonly string[],
  driver: string,
): Record<string, unknown> {
  const given: Record<string, unknown> = {
    ...base,
    ...extra,
    connection: { ...base.connection as object, ...extra.connection as object },
  };
  for (const key of owned) {
    if (given[key] !== undefined) {
      throw new TypeError(
        `Cannot create the ${driver} driver: the pool owns each connection's lifetime, so "${key}" is not supported`,
      );
    }
  }
  return given;
}

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
