/**
 * A PostgreSQL 15 primary and a streaming replica made for the tests: the
 * primary by `initdb` with `wal_level=replica`, the replica by
 * `pg_basebackup -R` from it, each on a free loopback port (no Unix socket)
 * in a temporary directory that `stop()` deletes. Runs under `deno test -A`
 * and `bun test`.
 *
 * `initdb` and `postgres` refuse to run as root: as root, every server
 * command runs as the `postgres` system user through `runuser`, in a
 * directory that user owns. Every command is bounded by a timeout.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { appendFile, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort, waitFor } from "./postgres.ts";

/** Where the server binaries are: `PG_BINDIR`, else Debian's PostgreSQL 15. */
const BINDIR = process.env.PG_BINDIR ?? "/usr/lib/postgresql/15/bin";

/** How long one server command may take, in milliseconds. */
const COMMAND_TIMEOUT = 60_000;

/** One server of the pair. */
export interface ReplicaNode {
  /** A `postgres://` URL (trust authentication on loopback, user `postgres`). */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown, keeping the data directory; waits until it is down. */
  stop(): Promise<void>;
  /** Starts it again on the same directory and port; waits until it accepts connections. */
  start(): Promise<void>;
}

/** The running pair. */
export interface ReplicaSet {
  primary: ReplicaNode;
  replica: ReplicaNode;
  /** Stops both servers and deletes their directory. */
  stop(): Promise<void>;
}

/** Why the pair cannot be made here, or undefined when it can. */
export function replicaSetUnavailable(): string | undefined {
  for (const tool of ["initdb", "pg_ctl", "pg_basebackup", "postgres", "psql"]) {
    if (!existsSync(join(BINDIR, tool))) return `Needs ${tool} in ${BINDIR} (set PG_BINDIR)`;
  }
  if (
    process.getuid?.() === 0 && !existsSync("/usr/sbin/runuser") && !existsSync("/sbin/runuser")
  ) {
    return "Running as root needs runuser to start PostgreSQL as the postgres user";
  }
  return undefined;
}

/** Makes the primary, then the replica from it, and waits until the replica streams. */
export async function startReplicaSet(): Promise<ReplicaSet> {
  const asRoot = process.getuid?.() === 0;
  const base = await mkdtemp(join(tmpdir(), "x-pool-replica-"));
  if (asRoot) {
    const uid = Number(await run("id", ["-u", "postgres"], false));
    const gid = Number(await run("id", ["-g", "postgres"], false));
    await chown(base, uid, gid);
  }
  const server = (cmd: string, args: string[]) => run(join(BINDIR, cmd), args, asRoot);
  const nodes: ReplicaNode[] = [];
  const removeOnExit = () => {
    // The process is ending without stop(): signal the postmasters and delete what is left.
    for (const node of nodes) {
      try {
        const pid = Number(
          readFileSync(join(node.dataDir, "postmaster.pid"), "utf8").split("\n")[0],
        );
        if (pid > 0) process.kill(pid, "SIGQUIT");
      } catch {
        // Not running.
      }
    }
    rmSync(base, { recursive: true, force: true });
  };
  process.once("exit", removeOnExit);
  const stopAll = async () => {
    for (const node of nodes.toReversed()) await node.stop().catch(() => {});
    process.removeListener("exit", removeOnExit);
    await rm(base, { recursive: true, force: true });
  };

  const node = (name: string, port: number): ReplicaNode => {
    const dataDir = join(base, name);
    const log = join(base, `${name}.log`);
    let running = false;
    const made: ReplicaNode = {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      async start() {
        await server("pg_ctl", ["-D", dataDir, "-l", log, "-w", "-t", "30", "start"]);
        running = true;
      },
      async stop() {
        if (!running) return;
        await server("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "-t", "30", "stop"]);
        running = false;
      },
    };
    nodes.push(made);
    return made;
  };

  try {
    const primary = node("primary", await freePort());
    await server("initdb", [
      "-D",
      primary.dataDir,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--no-sync",
      "--no-instructions",
    ]);
    await appendFile(
      join(primary.dataDir, "postgresql.conf"),
      [
        "",
        `port = ${primary.port}`,
        "listen_addresses = '127.0.0.1'",
        "unix_socket_directories = ''",
        "wal_level = replica",
        "max_wal_senders = 4",
        "hot_standby = on",
        // Throwaway servers: durability buys nothing here.
        "fsync = off",
        "",
      ].join("\n"),
    );
    await primary.start();

    const replica = node("replica", await freePort());
    await server("pg_basebackup", [
      "-h",
      "127.0.0.1",
      "-p",
      String(primary.port),
      "-U",
      "postgres",
      "-D",
      replica.dataDir,
      "-R",
      "-X",
      "stream",
      "-c",
      "fast",
      "--no-sync",
    ]);
    // The copied postgresql.conf names the primary's port; a later line wins.
    await appendFile(join(replica.dataDir, "postgresql.conf"), `\nport = ${replica.port}\n`);
    await replica.start();
    await waitFor("the replica to stream from the primary", async () => {
      const out = await server("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(primary.port),
        "-U",
        "postgres",
        "-Atc",
        "select count(*) from pg_stat_replication where state = 'streaming'",
      ]);
      return out.trim() === "1";
    }, 30_000);
    return { primary, replica, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
}

/** Runs a command (as `postgres` when `asPostgres`), resolving with its stdout. */
function run(cmd: string, args: string[], asPostgres: boolean): Promise<string> {
  const [file, argv] = asPostgres ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [
    cmd,
    args,
  ];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: COMMAND_TIMEOUT, cwd: tmpdir() }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(`${cmd} ${args.join(" ")} failed: ${stderr || error.message}`, {
            cause: error,
          }),
        );
      } else {
        resolve(String(stdout));
      }
    });
  });
}
