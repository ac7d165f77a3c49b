/**
 * The postgres.js driver: {@linkcode postgresDriver} opens each pooled
 * connection as one postgres.js instance with a single socket whose life
 * the pool owns. The root export `@x/pool` re-exports it.
 *
 * @example
 * ```ts
 * import { ConnectionPool } from "@x/pool";
 * import { postgresDriver } from "@x/pool/postgres";
 *
 * await using pool = new ConnectionPool({
 *   driver: postgresDriver("postgres://app:secret@localhost/app"),
 * });
 * ```
 *
 * @module
 */

export { postgresDriver } from "./driver.ts";
export type { PostgresCustomType, PostgresDriverOptions } from "./options.ts";
export type { TargetSessionAttrs } from "../_shared/target_session.ts";
