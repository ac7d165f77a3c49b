/**
 * Faults made by the test's own PostgreSQL: terminated and killed backends,
 * stopped processes, restarts, and server settings.
 *
 * Settings and roles need only a superuser connection, so they work with
 * `DATABASE_URL` too. Restarts and signals need the server's processes, so
 * with `DATABASE_URL` they throw, and {@linkcode ServerControl.processUnavailable}
 * says why: pass it as a test's `skip` option so such tests are reported as
 * skipped, never as passed.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { Admin, ConnectionOptions, TestPostgres } from "./postgres.ts";

/** The signals a test may send to a server process. */
export type ServerSignal = "SIGKILL" | "SIGSTOP" | "SIGCONT" | "SIGTERM";

/** Controls for one server; see the module doc. */
export interface ServerControl {
  /** Why restarts and signals are unavailable, or `undefined` when they work. */
  readonly processUnavailable: string | undefined;
  /** `pg_terminate_backend(pid)`; true when the backend existed. */
  terminate(pid: number): Promise<boolean>;
  /** The postmaster's pid, from `postmaster.pid` in the data directory. */
  postmasterPid(): Promise<number>;
  /**
   * Sends `signal` to a backend or the postmaster. SIGKILL on a backend makes
   * the postmaster end every session and recover. A stopped process is
   * continued by `close()` if the test does not.
   */
  signal(pid: number, signal: ServerSignal): void;
  /** Fast shutdown (SIGINT), keeping the data directory. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same data directory and port. */
  start(): Promise<void>;
  /** `ALTER SYSTEM SET name = value` (or `RESET` for `null`) and `pg_reload_conf()`. */
  setSystem(name: string, value: string | null): Promise<void>;
  /**
   * Creates a login role (password `test-password`) with a connection limit
   * and per-role settings, which apply to sessions started after this.
   *
   * @returns Connection options for the role, on the server's database.
   */
  createRole(
    name: string,
    options?: { connectionLimit?: number; settings?: Record<string, string> },
  ): Promise<ConnectionOptions>;
  /** `ALTER ROLE name CONNECTION LIMIT limit` (-1 for none). */
  setConnectionLimit(name: string, limit: number): Promise<void>;
  /**
   * Undoes everything: continues stopped processes, starts a stopped server,
   * resets changed system settings, and drops created roles after ending their sessions.
   */
  close(): Promise<void>;
}

/** Identifiers and setting names are spliced into SQL: only plain names pass. */
function checkName(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`Cannot use name: ${name}`);
  return name;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Controls `server` through `admin`, a superuser connection to it.
 *
 * @example
 * ```ts ignore
 * const control = serverControl(server, db);
 * it("survives a restart", { skip: control.processUnavailable }, async () => {
 *   await control.stop();
 *   await control.start();
 * });
 * ```
 */
export function serverControl(server: TestPostgres, admin: Admin): ServerControl {
  const embedded = server.embedded;
  const processUnavailable = embedded
    ? undefined
    : "Needs the server's processes: DATABASE_URL is set";
  const stopped = new Set<number>();
  const settings = new Set<string>();
  const roles = new Set<string>();
  let down = false;

  const need = () => {
    if (!embedded) throw new Error(`Cannot control the server process: ${processUnavailable}`);
    return embedded;
  };
  /**
   * Reloads the configuration and waits (up to 1 s) until the admin session
   * has the change: by then every backend was signalled and reads it before
   * its next statement. The SQL that changed the file runs before this.
   */
  const reload = async (name: string, before: string) => {
    await admin.query("select pg_reload_conf()");
    for (let i = 0; i < 50 && (await setting(name)) === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const setting = async (name: string) =>
    (await admin.query<{ setting: string }>(
      "select setting from pg_settings where name = $1",
      [name],
    ))[0]?.setting;

  const control: ServerControl = {
    processUnavailable,
    async terminate(pid) {
      const rows = await admin.query<{ ok: boolean }>("select pg_terminate_backend($1) as ok", [
        pid,
      ]);
      return rows[0].ok;
    },
    async postmasterPid() {
      const text = await readFile(join(need().dataDir, "postmaster.pid"), "utf8");
      return Number(text.split("\n")[0]);
    },
    signal(pid, signal) {
      need();
      process.kill(pid, signal);
      if (signal === "SIGSTOP") stopped.add(pid);
      else stopped.delete(pid);
    },
    async stop() {
      await need().server.stop();
      down = true;
    },
    async start() {
      await need().server.start();
      down = false;
    },
    async setSystem(name, value) {
      const sql = value === null
        ? `alter system reset ${checkName(name)}`
        : `alter system set ${checkName(name)} = ${literal(value)}`;
      const before = await setting(name);
      await admin.query(sql);
      settings.add(name);
      await reload(name, before);
    },
    async createRole(name, options = {}) {
      const limit = options.connectionLimit ?? -1;
      await admin.query(
        `create role ${checkName(name)} login password 'test-password' connection limit ${
          Math.trunc(limit)
        }`,
      );
      roles.add(name);
      for (const [setting, value] of Object.entries(options.settings ?? {})) {
        await admin.query(`alter role ${name} set ${checkName(setting)} = ${literal(value)}`);
      }
      return { ...server.options, username: name, password: "test-password" };
    },
    async setConnectionLimit(name, limit) {
      await admin.query(`alter role ${checkName(name)} connection limit ${Math.trunc(limit)}`);
    },
    async close() {
      for (const pid of stopped) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // Already gone.
        }
      }
      stopped.clear();
      if (down) await control.start();
      for (const name of settings) await admin.query(`alter system reset ${name}`);
      if (settings.size > 0) await admin.query("select pg_reload_conf()");
      settings.clear();
      for (const name of roles) {
        await admin.query(
          "select pg_terminate_backend(pid) from pg_stat_activity where usename = $1",
          [name],
        );
        // A terminated backend leaves shortly after; its role cannot be dropped until then.
        for (let i = 0; i < 100; i++) {
          const rows = await admin.query("select 1 from pg_stat_activity where usename = $1", [
            name,
          ]);
          if (rows.length === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await admin.query(`drop role if exists ${name}`);
      }
      roles.clear();
    },
  };
  return control;
}
