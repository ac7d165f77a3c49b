/**
 * The node-postgres driver: {@linkcode pgDriver} opens each pooled
 * connection as one `pg.Client` whose single socket the pool owns. It needs
 * the `pg` package (8.23 or later), an optional peer dependency of
 * `@x/pool`; the root export `@x/pool` does not load it.
 *
 * @example
 * ```ts ignore
 * import { ConnectionPool } from "@x/pool";
 * import { pgDriver } from "@x/pool/pg";
 *
 * await using pool = new ConnectionPool({
 *   driver: pgDriver("postgres://app:secret@localhost/app"),
 * });
 * ```
 *
 * @module
 */

export { pgDriver } from "./driver.ts";
export type { PgDriverOptions, PgTypeParsers } from "./options.ts";
export type { TargetSessionAttrs } from "../_shared/target_session.ts";
