/**
 * The one error a throwaway server's startup fails with: why, in plain
 * words, and what to do about it.
 *
 * @module
 */

/** Startup failed; the message says why and what to do, ending with the `DATABASE_URL` way out. */
export class StartupError extends Error {
  /**
   * @param reason Why, in plain words.
   * @param advice What to do about it, when there is more to say than `DATABASE_URL`.
   */
  constructor(reason: string, advice?: string, options?: ErrorOptions) {
    super(
      `Cannot start a throwaway PostgreSQL: ${reason}.\n` +
        `To fix it: ${advice ? `${advice}; or ` : ""}` +
        "set DATABASE_URL to a PostgreSQL server of yours " +
        "(postgres://user:password@host:port/database) to use that instead.",
      options,
    );
    this.name = "StartupError";
  }
}
