/**
 * Runs the PostgreSQL binaries: `initdb`, and `postgres` as a child process
 * that can be stopped and started again on the same data directory. As root
 * each runs as the server user (see `binaries.ts`). Every wait is bounded, and
 * every failure (a binary that cannot be run, a server that exits or never
 * gets ready) becomes a {@linkcode StartupError} carrying the server's own
 * words, never an unhandled `error` event.
 *
 * A process ending without stopping its servers stops them from its `exit`
 * event (immediate shutdown) and deletes the folders registered for it.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { Binaries, ServerUser } from "./binaries.ts";
import { StartupError } from "./errors.ts";

/** What every command needs: the binaries, the user to run as, and what to advise on failure. */
export interface ServerSetup {
  binaries: Binaries;
  /** Undefined: run as this process's user. */
  user: ServerUser | undefined;
  /** What to do when a command fails, for the error message. */
  advice?: string;
}

/** A `postgres` server on one data directory and port. */
export interface ServerProcess {
  readonly dataDir: string;
  readonly port: number;
  /** Starts the server; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown, keeping the data directory; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** How long `initdb` may take, or a server to get ready or to stop. */
const STEP_TIMEOUT_MS = 60_000;
/** The end of a command's output kept for an error message. */
const OUTPUT_TAIL = 4_000;

const running = new Set<ChildProcess>();
const removeAtExit = new Set<string>();
let exitHooked = false;

/** Deletes `dir` when the process exits, unless {@linkcode keepAtExit} is called first. */
export function deleteAtExit(dir: string): void {
  hookExit();
  removeAtExit.add(dir);
}

/** Undoes {@linkcode deleteAtExit} for a folder deleted already. */
export function keepAtExit(dir: string): void {
  removeAtExit.delete(dir);
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGQUIT");
    for (const dir of removeAtExit) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Runs `initdb` on `dataDir` (which must not exist or be empty), UTF-8 with
 * the C locale, for the superuser `username`.
 */
export async function initdb(
  setup: ServerSetup,
  dataDir: string,
  cwd: string,
  options: { username: string; auth: "trust" } | {
    username: string;
    auth: "scram-sha-256";
    /** A file holding the password, readable by the server user. */
    passwordFile: string;
  },
): Promise<void> {
  const args = [
    `--pgdata=${dataDir}`,
    `--username=${options.username}`,
    `--auth=${options.auth}`,
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
  ];
  if (options.auth === "scram-sha-256") args.push(`--pwfile=${options.passwordFile}`);
  const child = launch(setup, "initdb", args, cwd);
  const output = collect(child);
  const exit = await outcome(child, STEP_TIMEOUT_MS);
  if (exit === "timeout") child.kill("SIGKILL");
  if (exit !== "exited-0") {
    throw new StartupError(
      `initdb ${describe(exit)}${output.text() ? `:\n${output.text()}` : ""}`,
      setup.advice,
    );
  }
}

/**
 * A server on `dataDir` listening on 127.0.0.1:`port` only (no Unix
 * socket), with `settings` as `-c name=value`; not started yet.
 */
export function serverProcess(
  setup: ServerSetup,
  dataDir: string,
  port: number,
  cwd: string,
  settings: Record<string, string> = {},
): ServerProcess {
  const args = ["-D", dataDir, "-p", String(port)];
  const all = { listen_addresses: "127.0.0.1", unix_socket_directories: "", ...settings };
  for (const [name, value] of Object.entries(all)) args.push("-c", `${name}=${value}`);
  let child: ChildProcess | undefined;
  return {
    dataDir,
    port,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      hookExit();
      const started = launch(setup, "postgres", args, cwd);
      const output = collect(started);
      running.add(started);
      started.once("exit", () => running.delete(started));
      const ready = await outcome(started, STEP_TIMEOUT_MS, {
        output,
        test: (text) => /ready to accept (read-only )?connections/.test(text),
      });
      if (ready !== "ready") {
        started.kill("SIGKILL");
        throw new StartupError(
          `the server on port ${port} ${describe(ready)}${
            output.text() ? `:\n${output.text()}` : ""
          }`,
          setup.advice,
        );
      }
      child = started;
    },
    async stop() {
      const stopping = child;
      if (!stopping) return;
      child = undefined;
      const gone = outcome(stopping, STEP_TIMEOUT_MS);
      stopping.kill("SIGINT");
      if ((await gone) === "timeout") {
        stopping.kill("SIGKILL");
        await outcome(stopping, STEP_TIMEOUT_MS);
      }
    },
  };
}

function launch(setup: ServerSetup, tool: string, args: string[], cwd: string): ChildProcess {
  const ids = setup.user ? { uid: setup.user.uid, gid: setup.user.gid } : {};
  let child: ChildProcess;
  try {
    child = spawn(join(setup.binaries.bin, tool), args, {
      ...ids,
      cwd,
      // English messages, which start() looks for; the data's locale is set by initdb.
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    // Deno throws here where Node and Bun emit `error`.
    throw new StartupError(`${tool} ${describe(error as Error)}`, setup.advice, { cause: error });
  }
  // A failed spawn is reported by outcome(); an `error` event with no listener
  // would be thrown instead, and under Bun that spins while a top-level await waits.
  child.on("error", () => {});
  return child;
}

/** A child's output so far, and a way to hear of more. */
interface Output {
  text(): string;
  /** Calls `listener` after each chunk; returns the function that stops it. */
  watch(listener: () => void): () => void;
}

/** Keeps the end of a child's stdout and stderr, reading them for as long as it runs. */
function collect(child: ChildProcess): Output {
  let tail = "";
  const listeners = new Set<() => void>();
  const add = (chunk: Buffer | string) => {
    tail = (tail + chunk).slice(-OUTPUT_TAIL);
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return {
    text: () => tail.trim(),
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

type Outcome = "ready" | "exited-0" | `exited-${number}` | "timeout" | Error;

/**
 * Waits for the first of: `ready` finding what it looks for in the output,
 * the process exiting, failing to start (an `error` event), or `ms` passing.
 */
function outcome(
  child: ChildProcess,
  ms: number,
  ready?: { output: Output; test: (text: string) => boolean },
): Promise<Outcome> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(`exited-${child.exitCode ?? child.signalCode}` as Outcome);
  }
  return new Promise((resolve) => {
    const finish = (result: Outcome) => {
      clearTimeout(timer);
      unwatch?.();
      child.off("error", finish);
      child.off("exit", onExit);
      resolve(result);
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(`exited-${code ?? signal}` as Outcome);
    const timer = setTimeout(() => finish("timeout"), ms);
    const unwatch = ready?.output.watch(() => ready.test(ready.output.text()) && finish("ready"));
    child.on("error", finish);
    child.on("exit", onExit);
  });
}

function describe(result: Outcome): string {
  if (result instanceof Error) {
    const code = (result as { code?: string }).code;
    return `could not be run (${code ?? result.message}): the binary is missing or not ` +
      "executable for the user it runs as";
  }
  if (result === "timeout") return `did not finish within ${STEP_TIMEOUT_MS / 1000} s`;
  return `exited (${result.slice("exited-".length)})`;
}
