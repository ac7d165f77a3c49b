/**
 * Pool names, where they must tell pools apart: metrics labels and a
 * cluster's members.
 *
 * @module
 */

/** The names seen so far; a pool with one of them again is refused. */
export class UniqueNames {
  readonly #names = new Set<string>();
  readonly #prefix: string;
  readonly #others: string;

  /**
   * @param prefix What failed, for the error: `"Cannot create cluster:"`.
   * @param others What the earlier pools are called in the error: `"member"`, `"pool"`.
   */
  constructor(prefix: string, others: string) {
    this.#prefix = prefix;
    this.#others = others;
  }

  get size(): number {
    return this.#names.size;
  }

  /**
   * Records `name`, given at `where` (such as `replicas[1]`).
   *
   * @throws {RangeError} `name` already recorded.
   */
  add(name: string, where: string): void {
    if (this.#names.has(name)) {
      throw new RangeError(
        `${this.#prefix} ${where} is named ${
          JSON.stringify(name)
        } like another ${this.#others}; give each pool its own name option`,
      );
    }
    this.#names.add(name);
  }
}
