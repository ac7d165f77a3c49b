/**
 * TLS as every driver reads it, libpq's way: the mode from `ssl` (or a URL's
 * `sslmode`), and the CA certificates from `sslrootcert`, a file read when
 * the driver is created. Each driver turns the result into its client's
 * options; a server's certificate is then checked the same way under all.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { type SslMode, sslMode } from "./driver_options.ts";

/** A libpq mode with the CA certificates to check the server's against, or the client's own options. */
export type Tls =
  | { mode: SslMode; ca: string | undefined }
  | { custom: Record<string, unknown> };

/**
 * Reads `ssl` and `sslrootcert` as libpq does: a CA file makes `"require"`
 * check the certificate chain, as `"verify-ca"` does (libpq's rule for a
 * root certificate that exists). TLS options of the client's own take no
 * `sslrootcert`: their `ca` says it.
 *
 * @param driver The driver's name in errors: `"postgres"`, `"Bun.SQL"`.
 * @throws {RangeError} An unknown mode.
 * @throws {TypeError} `sslrootcert` with TLS options, or a file that cannot be read.
 */
export function resolveTls(ssl: unknown, sslrootcert: unknown, driver: string): Tls {
  const mode = sslMode(ssl, "ssl", driver);
  if (sslrootcert === undefined) {
    return typeof mode === "object" ? { custom: mode } : { mode, ca: undefined };
  }
  const prefix = `Cannot create the ${driver} driver:`;
  if (typeof mode === "object") {
    throw new TypeError(
      `${prefix} sslrootcert goes with an sslmode, not with TLS options (set their "ca")`,
    );
  }
  let ca: string;
  try {
    ca = readFileSync(String(sslrootcert), "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code ?? (error as Error).message;
    throw new TypeError(`${prefix} sslrootcert (${String(sslrootcert)}) cannot be read (${code})`);
  }
  return { mode: mode === "require" ? "verify-ca" : mode, ca };
}

/**
 * `tls.connect` options for `"verify-ca"` and `"verify-full"`: the CA
 * certificates, when given, and for `"verify-ca"` no host name check.
 * The chain is checked, as `rejectUnauthorized` is on by default.
 */
export function verifying(tls: { mode: SslMode; ca: string | undefined }): Record<string, unknown> {
  return {
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
  };
}
