/**
 * A highly available pair under pg_auto_failover for the failover tests: a
 * monitor and two PostgreSQL 15 nodes (a primary and a synchronous
 * secondary) on loopback ports, each node run by its own `pg_autoctl run`,
 * with the monitor's health checks and the nodes' partition timeout
 * shortened so a failover takes seconds. As root everything runs as the
 * `postgres` system user, in a folder it owns, with `HOME` and the XDG
 * folders pointed into it so nothing lands in a home directory. `stop()`
 * kills every process it started and deletes the folder (at exit at the
 * latest).
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import postgres from "postgres";
import { privateFolder } from "../../examples/_postgres/start.ts";
import { keepAtExit } from "../../examples/_postgres/server.ts";
import { freePort, waitFor } from "./postgres.ts";

/** One node of the pair. */
export interface FailoverNode {
  name: string;
  port: number;
  /** A `postgres://` URL to this node alone (trust on loopback, user `postgres`). */
  url: string;
}

/** A node's role as the monitor last saw it reported and assigned. */
export interface NodeStates {
  [name: string]: { reported: string; assigned: string };
}

/** The running pair and what the tests do to it. */
export interface FailoverPair {
  nodes: readonly [FailoverNode, FailoverNode];
  /** Both nodes in one URL, without `target_session_attrs`. */
  hosts: string;
  /** Resolves with the primary and secondary once the monitor sees both settled, within `timeout`. */
  settled(timeout?: number): Promise<{ primary: FailoverNode; secondary: FailoverNode }>;
  /** Resolves once the monitor sees `node` as primary (the other node in any state), within `timeout`. */
  promoted(node: FailoverNode, timeout?: number): Promise<void>;
  /** `pg_autoctl perform failover`: the secondary is promoted, the primary demoted; resolves when done. */
  performFailover(): Promise<void>;
  /** SIGKILL of a node's `pg_autoctl` and PostgreSQL, as a crash of its machine would. */
  crash(node: FailoverNode): void;
  /** Runs a crashed node again; it rejoins as secondary by itself. */
  restart(node: FailoverNode): void;
  /** The states the monitor holds, for messages. */
  states(): Promise<NodeStates>;
  stop(): Promise<void>;
}

const BIN = "/usr/lib/postgresql/15/bin";
/** What the monitor's health checks are lowered to, in milliseconds. */
const MONITOR_SETTINGS = {
  health_check_period: 1000,
  health_check_timeout: 1000,
  health_check_max_retries: 1,
  health_check_retry_delay: 500,
  node_considered_unhealthy_timeout: 2000,
  // Above the nodes' network_partition_timeout: a primary cut off from the
  // monitor demotes itself before the monitor promotes the other node.
  primary_demote_timeout: 4000,
  startup_grace_period: 1000,
};
/** Seconds without the monitor and the other node before a primary demotes itself. */
const NETWORK_PARTITION_TIMEOUT = 3;
const STEP_TIMEOUT_MS = 60_000;

/** Why the pair cannot run here, or `undefined` when it can. */
export function autoFailoverUnavailable(): string | undefined {
  if (process.platform !== "linux") return "pg_auto_failover runs on Linux only here";
  if (!commandExists("pg_autoctl")) {
    return "pg_autoctl is not installed (apt-get install postgresql-15-auto-failover)";
  }
  if (!existsSync(join(BIN, "pg_ctl"))) return `PostgreSQL 15 is not installed in ${BIN}`;
  if (process.getuid?.() === 0 && systemUser("postgres") === undefined) {
    return "running as root, and there is no postgres system user to run PostgreSQL as";
  }
  return undefined;
}

/** Starts the monitor and both nodes; resolves once one is primary and the other secondary. */
export async function startFailoverPair(): Promise<FailoverPair> {
  const user = process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  // Deleted at exit too, should a test be killed before stop().
  const base = await privateFolder(user && { name: "postgres", ...user }, "x-pool-failover-");
  const env = {
    ...process.env,
    HOME: base,
    XDG_CONFIG_HOME: join(base, "config"),
    XDG_DATA_HOME: join(base, "data"),
    XDG_RUNTIME_DIR: join(base, "run"),
    PATH: `${BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    PG_CONFIG: join(BIN, "pg_config"),
    LC_ALL: "C",
  };
  const running = new Map<string, ChildProcess>();
  const log: string[] = [];
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn("pg_autoctl", args, {
        ...user,
        cwd: base,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      const add = (chunk: Buffer) => output = (output + chunk).slice(-4000);
      child.stdout!.on("data", add);
      child.stderr!.on("data", add);
      const timer = setTimeout(() => child.kill("SIGKILL"), STEP_TIMEOUT_MS);
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else {reject(
            new Error(`pg_autoctl ${args[0]} ${args[1]} failed (${code ?? signal}):\n${output}`),
          );}
      });
    });
  // Each `pg_autoctl run` leads a process group of its own, so a crash kills
  // the keeper and the server together.
  const keep = (name: string, pgdata: string) => {
    const child = spawn("pg_autoctl", ["run", "--pgdata", pgdata], {
      ...user,
      cwd: base,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const add = (chunk: Buffer) => {
      log.push(`${name}: ${String(chunk).trimEnd()}`);
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stdout!.on("data", add);
    child.stderr!.on("data", add);
    child.on("error", () => {});
    running.set(name, child);
  };
  const killGroup = (name: string) => {
    const child = running.get(name);
    running.delete(name);
    if (child?.pid === undefined || child.exitCode !== null) return;
    try {
      execFileSync("kill", ["-KILL", "--", `-${child.pid}`], { stdio: "ignore" });
    } catch {
      // Already gone.
    }
  };

  const monitorPort = await freePort();
  const monitorDir = join(base, "monitor");
  const monitorUrl = `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`;
  let monitor: postgres.Sql | undefined;
  const stop = async () => {
    // Killed first: the client's end would otherwise wait on a live monitor.
    for (const name of [...running.keys()]) killGroup(name);
    await monitor?.end({ timeout: 1 }).catch(() => {});
    // A backend outliving its killed postmaster for a moment may still write a
    // file. Bounded, as Bun gives an after() hook 5 s: a deletion still under
    // way then ends in the background, or at exit.
    const removed = rm(base, { recursive: true, force: true, maxRetries: 5 })
      .then(() => keepAtExit(base), () => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([removed, new Promise((resolve) => timer = setTimeout(resolve, 3_000))]);
    clearTimeout(timer);
  };
  try {
    await run([
      "create",
      "monitor",
      "--pgdata",
      monitorDir,
      "--pgport",
      String(monitorPort),
      "--hostname",
      "127.0.0.1",
      "--listen",
      "127.0.0.1",
      "--auth",
      "trust",
      "--no-ssl",
    ]);
    keep("monitor", monitorDir);
    monitor = postgres(monitorUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    await waitFor("the monitor to accept connections", async () => {
      try {
        await monitor!`select 1 from pgautofailover.node limit 1`;
        return true;
      } catch {
        return false;
      }
    }, STEP_TIMEOUT_MS);
    for (const [name, value] of Object.entries(MONITOR_SETTINGS)) {
      await monitor.unsafe(`alter system set pgautofailover.${name} = ${value}`);
    }
    await monitor`select pg_reload_conf()`;

    const nodes: FailoverNode[] = [];
    for (const name of ["node_1", "node_2"]) {
      const port = await freePort();
      const pgdata = join(base, name);
      await run([
        "create",
        "postgres",
        "--pgdata",
        pgdata,
        "--pgport",
        String(port),
        "--name",
        name,
        "--hostname",
        "127.0.0.1",
        "--listen",
        "127.0.0.1",
        "--auth",
        "trust",
        "--no-ssl",
        "--monitor",
        `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`,
      ]);
      await run([
        "config",
        "set",
        "--pgdata",
        pgdata,
        "timeout.network_partition_timeout",
        String(NETWORK_PARTITION_TIMEOUT),
      ]);
      keep(name, pgdata);
      nodes.push({ name, port, url: `postgres://postgres@127.0.0.1:${port}/postgres` });
      // The second node is made from the first: wait for it to be primary.
      if (nodes.length === 1) await settledStates(monitor, ["single"], 90_000);
    }
    const states = () => nodeStates(monitor!);
    const settled = async (timeout = 90_000) => {
      const seen = await settledStates(monitor!, ["primary", "secondary"], timeout);
      const primary = nodes.find((node) => seen[node.name].reported === "primary")!;
      return { primary, secondary: nodes.find((node) => node !== primary)! };
    };
    await settled();
    return {
      nodes: [nodes[0], nodes[1]],
      hosts: `postgres://postgres@${
        nodes.map((node) => `127.0.0.1:${node.port}`).join(",")
      }/postgres`,
      settled,
      states,
      promoted: async (node, timeout = 60_000) => {
        let seen: NodeStates = {};
        await waitFor(`${node.name} to be primary`, async () => {
          seen = await states().catch(() => seen);
          const state = seen[node.name];
          return state?.reported === "primary" && state.assigned === "primary" ||
            state?.reported === "wait_primary" && state.assigned === "wait_primary";
        }, timeout).catch((error) => {
          throw new Error(`${error.message}; last states: ${JSON.stringify(seen)}`);
        });
      },
      performFailover: () => run(["perform", "failover", "--pgdata", monitorDir]),
      crash: (node) => killGroup(node.name),
      restart: (node) => keep(node.name, join(base, node.name)),
      stop,
    };
  } catch (error) {
    const tail = log.slice(-30).join("\n");
    await stop();
    if (tail && error instanceof Error) error.message += `\nlast pg_autoctl output:\n${tail}`;
    throw error;
  }
}

async function nodeStates(monitor: postgres.Sql): Promise<NodeStates> {
  const rows = await monitor<{ nodename: string; reportedstate: string; goalstate: string }[]>`
    select nodename, reportedstate::text, goalstate::text from pgautofailover.node`;
  return Object.fromEntries(
    rows.map((row) => [row.nodename, { reported: row.reportedstate, assigned: row.goalstate }]),
  );
}

/**
 * Waits until the nodes' reported and assigned states are `wanted` (in any
 * order), failing after `timeout` ms with the states last seen.
 */
async function settledStates(
  monitor: postgres.Sql,
  wanted: string[],
  timeout: number,
): Promise<NodeStates> {
  let seen: NodeStates = {};
  const key = (states: string[]) => states.toSorted().join(",");
  try {
    await waitFor(`the nodes to be ${wanted.join(" and ")}`, async () => {
      seen = await nodeStates(monitor).catch(() => seen);
      const values = Object.values(seen);
      return values.every((state) => state.reported === state.assigned) &&
        key(values.map((state) => state.reported)) === key(wanted);
    }, timeout);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last states: ${JSON.stringify(seen)}`);
  }
  return seen;
}

function commandExists(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The uid and gid of a system user, from /etc/passwd. */
function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of execFileSync("getent", ["passwd", name], { encoding: "utf8" }).split("\n")) {
      const [user, , uid, gid] = line.split(":");
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // No such user.
  }
  return undefined;
}
