/**
 * The Bun.SQL driver: {@linkcode bunDriver} opens each pooled connection as
 * one `Bun.SQL` instance with a single socket whose life the pool owns. It
 * needs Bun; under another runtime `bunDriver()` throws.
 *
 * @example
 * ```ts ignore
 * import { ConnectionPool } from "@x/pool";
 * import { bunDriver } from "@x/pool/bun";
 *
 * await using pool = new ConnectionPool({
 *   driver: bunDriver("postgres://app:secret@localhost/app"),
 * });
 * ```
 *
 * @module
 */

export { bunDriver } from "./driver.ts";
export type { BunDriverOptions } from "./options.ts";
export type { TargetSessionAttrs } from "../_shared/target_session.ts";
